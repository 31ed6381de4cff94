"""Reading a policy folder: from disk (the organisation's folder, `--policies`) or from git at a revision.

As conftest does: every `.rego` file under the folder is a module, every `.json` / `.yaml` / `.yml` file is data,
merged into `data` at its root. A data file that does not parse is an error naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from kpops_bot.model.policy import PolicyError, PolicyModule, PolicySet

_DATA_SUFFIXES = (".json", ".yaml", ".yml")


def from_directory(folder: Path) -> PolicySet:
    """The folder's policies; a missing folder is an error (it was named on purpose)."""
    if not folder.is_dir():
        raise PolicyError(f"{folder}: no such policy folder")
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return from_files(str(folder), [str(path) for path in files], lambda path: Path(path).read_text(encoding="utf-8"))


def from_files(origin: str, paths: Iterable[str], read: Callable[[str], str | None]) -> PolicySet:
    """The policies among `paths` (the files of one folder), read with `read`."""
    modules: list[PolicyModule] = []
    data: dict[str, Any] = {}
    for path in sorted(paths):
        if not path.endswith((".rego", *_DATA_SUFFIXES)):
            continue
        text = read(path)
        if text is None:
            continue
        if path.endswith(".rego"):
            modules.append(PolicyModule(path, text))
        else:
            _merge(data, _data(path, text))
    return PolicySet(origin=origin, modules=tuple(modules), data=data)


def _data(path: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise PolicyError(f"{path}: the data file does not parse ({type(error).__name__})") from error
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError(f"{path}: a data file must hold a mapping")
    return value


def _merge(into: dict[str, Any], value: dict[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, dict) and isinstance(into.get(key), dict):
            _merge(into[key], item)
        else:
            into[key] = item
