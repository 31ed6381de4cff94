"""The configuration reference of the docs site, generated from the models that read the settings file and
`.kpops-bot.yaml`, so the page cannot say what the bot no longer reads.

Every key is listed with its environment variable (settings only), type, default and the model's description.
`kpops-bot config-reference` prints the page; docs/configuration-reference.md holds it, and a test keeps the two
equal.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from kpops_bot.repo_config import FILE_NAME, RepoConfig
from kpops_bot.schemas import SchemaKind
from kpops_bot.settings import ENV_PREFIX, BotSettings

# Defaults that depend on the machine the reference is generated on: said in words instead.
_MACHINE_DEFAULTS = {
    "workers": "the CPUs the bot may use",
    "managed.kpops_command": "the kpops installed with the bot",
}


@dataclass(frozen=True)
class _Row:
    key: str
    variable: str | None
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class _Section:
    key: str  # "" for the top level
    rows: list[_Row]


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {_type_name(key)} → {_type_name(value)}"
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return " or ".join(f"`{member.value}`" for member in annotation)
        if issubclass(annotation, SecretStr):
            return "secret"
        if issubclass(annotation, BaseModel):
            return "mapping (below)"
        if issubclass(annotation, Path):
            return "path"
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _value_text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[]`" if not value else "`[" + ", ".join(_plain(item) for item in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else "`{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}`"
    return f"`{value}`"


def _plain(value: Any) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def _default_text(key: str, field: FieldInfo) -> str:
    if key in _MACHINE_DEFAULTS:
        return _MACHINE_DEFAULTS[key]
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "as below" if isinstance(value, BaseModel) else _value_text(value)
    if field.default is PydanticUndefined:
        return "required"
    return "unset" if field.default is None else _value_text(field.default)


def _nested_model(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model below a key and how its keys are written under it (`.`, `[].`, `.<key>.`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "."
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is list and isinstance(arguments[0], type) and issubclass(arguments[0], BaseModel):
        return arguments[0], "[]."
    if origin is dict and isinstance(arguments[1], type) and issubclass(arguments[1], BaseModel):
        return arguments[1], ".<name>."
    return None


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split()) if text else ""


def _own_fields_first(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The model's fields, those it declares itself before those of the models it is made of (engine, diff...)."""

    def declared_at(name: str) -> int:
        return next(index for index, cls in enumerate(model.__mro__) if name in getattr(cls, "__annotations__", {}))

    return sorted(model.model_fields.items(), key=lambda item: declared_at(item[0]))


def _sections(model: type[BaseModel], prefix: str, variables: str | None) -> Iterator[_Section]:
    rows: list[_Row] = []
    below: list[tuple[type[BaseModel], str, str | None]] = []
    for name, field in _own_fields_first(model):
        key = prefix + name
        variable = None if variables is None else variables + name.upper()
        nested = _nested_model(field.annotation)
        description = field.description or (f"The keys of `{key}` below." if nested else "")
        rows.append(_Row(key, variable, _type_name(field.annotation), _default_text(key, field), description))
        if nested is not None:
            nested_model, joint = nested
            # A list or map of mappings is set as one JSON variable; only plain mappings nest with `__`.
            below.append((nested_model, key + joint, variable + "__" if variable and joint == "." else None))
    yield _Section(prefix.rstrip("."), rows)
    for nested_model, nested_prefix, nested_variables in below:
        yield from _sections(nested_model, nested_prefix, nested_variables)


def _table(section: _Section, *, with_variables: bool) -> list[str]:
    head = ["key", *(["variable"] if with_variables else []), "type", "default", "description"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in section.rows:
        cells = [f"`{row.key}`"]
        if with_variables:
            cells.append(f"`{row.variable}`" if row.variable else "(in the parent's JSON)")
        cells += [_cell(row.type), _cell(row.default), _cell(row.description)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _part(title: str, model: type[BaseModel], intro: str, variables: str | None) -> list[str]:
    lines = [f"## {title}", "", intro, ""]
    for section in _sections(model, "", variables):
        if section.key:
            lines += [f"### `{section.key}`", ""]
        lines += [*_table(section, with_variables=variables is not None), ""]
    return lines


def reference() -> str:
    """The page, as docs/configuration-reference.md holds it."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `kpops-bot config-reference > docs/configuration-reference.md`; do not edit. -->",
        "",
        "Every key the bot reads, from the models that read them. What the settings do together is told in",
        "[Configuration](configuration.md); the JSON schemas of both files are in `docs/schema/`",
        f"([settings](schema/{SchemaKind.SETTINGS.file_name}),"
        f" [`{FILE_NAME}`](schema/{SchemaKind.REPO_CONFIG.file_name})).",
        "",
    ]
    lines += _part(
        "The bot's settings",
        BotSettings,
        "`kpops-bot serve --config FILE` reads a YAML file of these keys; a variable wins over the file. Nested keys "
        f"join with `__` in variables (`github.token` is `{ENV_PREFIX}GITHUB__TOKEN`); lists and maps are JSON "
        "in a variable.",
        ENV_PREFIX,
    )
    lines += _part(
        f"`{FILE_NAME}`",
        RepoConfig,
        "A deployment repository's own file, read from the pull request's base branch. Unset keys keep the "
        "server's settings.",
        None,
    )
    return "\n".join(lines).rstrip("\n") + "\n"
