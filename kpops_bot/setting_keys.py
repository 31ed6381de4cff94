"""Misspelt settings are refused, at every depth: `github.api_ur` would silently fall back to api.github.com.

Pure: a settings mapping (from YAML, or from `KPOPS_BOT_*` variable names) is walked along the pydantic models'
fields; every key no model knows is named by its dotted path with the nearest valid key (difflib). Pydantic's own
`extra="forbid"` names the path but suggests nothing, and sees no variable it does not collect.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel], path: str = "") -> list[str]:
    """One line per unknown key in `data` (nested mappings of model fields included), e.g. `unknown setting
    github.api_ur; did you mean github.api_url?`."""
    problems: list[str] = []
    for key, value in data.items():
        where = f"{path}{key}"
        field = model.model_fields.get(key)
        if field is None:
            problems.append(_unknown(where, path, key, list(model.model_fields)))
            continue
        nested = model_of(field.annotation)
        if nested is not None and isinstance(value, Mapping):
            problems += unknown_keys(value, nested, f"{where}.")
    return problems


def unknown_variables(names: Sequence[str], prefix: str, delimiter: str, model: type[BaseModel]) -> list[str]:
    """One line per variable `PREFIX<KEY>[__<KEY>...]` that names no setting (`KPOPS_BOT_GITHUB__API_UR`)."""
    problems: list[str] = []
    for name in names:
        keys = name[len(prefix) :].lower().split(delimiter)
        nested: dict[str, Any] = {}
        for key in reversed(keys):
            nested = {key: nested}
        problems += [f"{name}: {problem}" for problem in unknown_keys(nested, model)]
    return problems


def _unknown(where: str, path: str, key: str, valid: list[str]) -> str:
    nearest = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f"; did you mean {path}{nearest[0]}?" if nearest else f"; valid here: {', '.join(sorted(valid))}"
    return f"unknown setting {where}{hint}"


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (`GitHubSettings`, `GitHubSettings | None`); None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [model_of(arg) for arg in typing.get_args(annotation)]
        found = [model for model in models if model is not None]
        return found[0] if len(found) == 1 else None
    return None
