"""Why the bot's settings did not load, in one line that names where to fix it: the settings file and line, or the
`KPOPS_BOT_*` variable, and what is expected there.

pydantic-settings merges the variables over the file before validating, so a validation error names a key, not its
source; the source is found here: a variable of that key when one is set (variables win), else the file's line of
the key. Its other errors (a variable that is not the JSON its field needs, a file that is not YAML or not a
mapping) come as exceptions of their own, each with a traceback of dozens of lines when left alone.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from kpops_bot.setting_keys import model_of
from kpops_bot.sources import config_line
from kpops_bot.validation import yaml_problem

_PARSING = re.compile(r'error parsing value for field "(?P<field>[^"]+)" from source "EnvSettingsSource"')
_UNKNOWN = re.compile(r"^unknown setting (?P<key>[\w.]+)")
_PYDANTIC_PREFIX = "Value error, "


def settings_problem(
    error: Exception, model: type[BaseModel], config_file: Path | None, environ: Mapping[str, str], prefix: str
) -> str | None:
    """One line for what `BaseSettings` raised while loading `model` (None when the error is not about settings)."""
    if isinstance(error, yaml.YAMLError):
        line, problem = yaml_problem(error)
        return f"{_at(config_file, line)}: invalid YAML: {problem}"
    if isinstance(error, ValidationError):
        sources = _Sources(config_file, _read(config_file), environ, prefix)
        return "; ".join(sources.blame(path, message) for path, message in _issues(error))
    if isinstance(error, SettingsError):
        return _not_json(error, model, environ, prefix)
    if isinstance(error, UnicodeDecodeError) and config_file is not None:
        return f"{config_file}: not UTF-8 text ({error.reason} at byte {error.start})"
    if config_file is not None and not isinstance(_load(_read(config_file)), dict | None):
        return f"{config_file}: the settings file must be a mapping of keys (`port: 8080`), not a list or a value"
    return None


def _issues(error: ValidationError) -> list[tuple[list[str | int], str]]:
    """(key path, message) per problem, one per line of a multi-line message (the unknown keys)."""
    found: list[tuple[list[str | int], str]] = []
    for raw in error.errors():
        path: list[str | int] = list(raw["loc"])
        message = raw["msg"].removeprefix(_PYDANTIC_PREFIX)
        found += [(path, line) for line in message.splitlines() if line.strip()]
    return found


@dataclass(frozen=True)
class _Sources:
    """Where settings came from: the file (and its text) and the variables over it."""

    config_file: Path | None
    text: str | None
    environ: Mapping[str, str]
    prefix: str

    def blame(self, path: list[str | int], message: str) -> str:
        """`where: key: message`; where the model's own check of unknown keys names the key only in its message,
        `where: message`."""
        unknown = _UNKNOWN.match(message)
        if not path and unknown is not None:
            return f"{self._source(unknown['key'].split('.'), whole_key=True)}: {message}"
        dotted = ".".join(str(part) for part in path) or "settings"
        return f"{self._source(path)}: {dotted}: {message}"

    def _source(self, path: Sequence[str | int], *, whole_key: bool = False) -> str:
        """The variable that set the key (the longest of its path that is set), else the file and line of the key
        (`whole_key`: only when the file has all of it)."""
        names = {name.upper(): name for name in self.environ}
        for depth in range(len(path), 0, -1):
            candidate = self.prefix + "__".join(str(part) for part in path[:depth]).upper()
            if candidate in names:
                return names[candidate]
        if self.config_file is None or self.text is None or (whole_key and not _has(self.text, path)):
            return "settings"
        return _at(self.config_file, config_line(self.text, list(path)) if path else None)


def _has(text: str, path: Sequence[str | int]) -> bool:
    node: Any = _load(text)
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _not_json(error: SettingsError, model: type[BaseModel], environ: Mapping[str, str], prefix: str) -> str | None:
    """A variable of a list, mapping or section field that is not JSON: named with what it must hold."""
    match = _PARSING.search(str(error))
    if match is None:
        return None
    field = match["field"]
    base = prefix + field.upper()
    variables = sorted(name for name in environ if name.upper() == base or name.upper().startswith(base + "__"))
    for name in variables:
        try:
            json.loads(environ[name])
        except ValueError as cause:
            keys = name[len(prefix) :].lower().split("__")
            reason = cause.msg if isinstance(cause, json.JSONDecodeError) else str(cause)
            return f"{name} must be {_expected(model, keys)} (not JSON: {reason})"
    return f"the variables of {field} ({base}...) must be JSON: {error}"


def _expected(model: type[BaseModel], keys: list[str]) -> str:
    annotation: Any = model
    for key in keys:
        nested = model_of(annotation)
        field = nested.model_fields.get(key) if nested is not None else None
        if field is None:
            break
        annotation = field.annotation
    plain = _without_none(annotation)
    if typing.get_origin(plain) is not list:
        return """a JSON object, e.g. '{"key": "value"}'"""
    (item,) = typing.get_args(plain) or (Any,)
    if model_of(item) is not None:
        return """a JSON list of objects, e.g. '[{"key": "value"}]'"""
    return """a JSON list, e.g. '["a", "b"]'"""


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return kept[0] if len(kept) == 1 else annotation
    return annotation


def _at(config_file: Path | None, line: int | None) -> str:
    where = str(config_file) if config_file is not None else "settings"
    return f"{where}:{line}" if line else where


def _read(config_file: Path | None) -> str | None:
    try:
        return config_file.read_text(encoding="utf-8") if config_file is not None else None
    except (OSError, UnicodeDecodeError):
        return None


def _load(text: str | None) -> object:
    try:
        return yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return None
