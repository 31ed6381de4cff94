"""The changes between two JSON-like trees, as deepdiff reports them, written out for the trees a render gives.

A component's configuration is JSON (dicts, lists, strings, numbers, booleans, None), and the diff stage compares
thousands of them per change: deepdiff builds a `DiffLevel` object per visited node, hashes and caches on the way,
and spent 1.3 s of the cached diff stage on 60 pipelines. Only a handful of its rules apply to such trees, so they
are written out here, with the same results (tests/test_tree_diff.py compares both on generated trees): a type
change beats a value change (`1` vs `1.0` vs `True`), a dict sharing under a third of its keys changes as a whole
(deepdiff's `threshold_to_diff_deeper`), lists of scalars are aligned with difflib and lists with containers pair
item by item, and an item removed and one added at the same index become one change. A tree holding anything else
is handed to deepdiff itself.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

# deepdiff's default: dicts sharing fewer than this share of their keys are reported as one changed value.
_THRESHOLD_TO_DIFF_DEEPER = 0.33
_SCALARS = (str, int, float, bool, type(None))
_MISSING: Any = object()  # a list's shorter side, as zip_longest fills it


class Kind(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    """`old` is None when added, `new` when removed."""

    path: tuple[Any, ...]
    kind: Kind
    old: Any
    new: Any


class _Foreign(Exception):
    """The tree holds a value that is not JSON: deepdiff's general rules decide."""


def tree_changes(old: Any, new: Any) -> list[Change]:
    """Every change from `old` to `new`, in no particular order (callers sort by path)."""
    try:
        walk = _Walk()
        walk.diff(old, new, ())
        return walk.result()
    except _Foreign:
        return list(_deepdiff_changes(old, new))


def _deepdiff_changes(old: Any, new: Any) -> Iterator[Change]:
    # Imported only for such a tree: deepdiff's import is a quarter of a second of a one-shot diff's start.
    from kpops_bot.diff.deep_diff import DeepDiff

    for report_type, items in DeepDiff(old, new, view="tree", verbose_level=2).items():
        kind = _kind(report_type)
        for item in items:
            path = tuple(item.path(output_format="list"))
            yield Change(path, kind, None if kind is Kind.ADDED else item.t1, None if kind is Kind.REMOVED else item.t2)


def _kind(report_type: str) -> Kind:
    if report_type.endswith("_added"):
        return Kind.ADDED
    if report_type.endswith("_removed"):
        return Kind.REMOVED
    return Kind.CHANGED


class _Walk:
    """One traversal; list items added and removed are kept apart until the end, where deepdiff pairs them."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.added: dict[tuple[Any, ...], Any] = {}
        self.removed: dict[tuple[Any, ...], Any] = {}

    def result(self) -> list[Change]:
        changes = list(self.changes)
        for path, value in self.removed.items():
            if path in self.added:
                changes.append(Change(path, Kind.CHANGED, value, self.added[path]))
            else:
                changes.append(Change(path, Kind.REMOVED, value, None))
        changes += [Change(path, Kind.ADDED, None, v) for path, v in self.added.items() if path not in self.removed]
        return changes

    def diff(self, old: Any, new: Any, path: tuple[Any, ...]) -> None:
        if old is new:
            return
        if type(old) is not type(new):
            _check(old)
            _check(new)
            self.changes.append(Change(path, Kind.CHANGED, old, new))
        elif isinstance(old, dict):
            self._dicts(old, new, path)
        elif isinstance(old, list):
            self._lists(old, new, path)
        else:
            _check(old)
            if old != new:
                self.changes.append(Change(path, Kind.CHANGED, old, new))

    def _dicts(self, old: dict[Any, Any], new: dict[Any, Any], path: tuple[Any, ...]) -> None:
        shared = [key for key in new if key in old]
        union = len(old) + len(new) - len(shared)
        if union > 1 and len(shared) / union < _THRESHOLD_TO_DIFF_DEEPER:
            self.changes.append(Change(path, Kind.CHANGED, old, new))
            return
        self.changes += [Change((*path, key), Kind.ADDED, None, new[key]) for key in new if key not in old]
        self.changes += [Change((*path, key), Kind.REMOVED, old[key], None) for key in old if key not in new]
        for key in shared:
            self.diff(old[key], new[key], (*path, key))

    def _lists(self, old: list[Any], new: list[Any], path: tuple[Any, ...]) -> None:
        if not (_all_scalars(old) and _all_scalars(new)):  # deepdiff aligns lists of scalars only
            self._pairs(old, new, path, 0, 0, self)
            return
        aligned = _Walk()
        for tag, old_from, old_to, new_from, new_to in difflib.SequenceMatcher(None, old, new, False).get_opcodes():
            if tag == "replace":
                self._pairs(old[old_from:old_to], new[new_from:new_to], path, old_from, new_from, aligned)
            elif tag == "delete":
                aligned.removed |= {(*path, old_from + i): item for i, item in enumerate(old[old_from:old_to])}
            elif tag == "insert":
                aligned.added |= {(*path, new_from + i): item for i, item in enumerate(new[new_from:new_to])}
        # deepdiff keeps the alignment only when it finds fewer changes than pairing item by item.
        if _count(aligned) > 1:
            paired = _Walk()
            self._pairs(old, new, path, 0, 0, paired)
            if _count(aligned) >= _count(paired):
                aligned = paired
        self.changes += aligned.changes
        self.added |= aligned.added
        self.removed |= aligned.removed

    def _pairs(
        self, old: Sequence[Any], new: Sequence[Any], path: tuple[Any, ...], old_from: int, new_from: int, into: _Walk
    ) -> None:
        for index, (before, after) in enumerate(zip_longest(old, new, fillvalue=_MISSING)):
            old_index, new_index = old_from + index, new_from + index
            if after is _MISSING:
                into.removed[(*path, old_index)] = before
            elif before is _MISSING:
                into.added[(*path, new_index)] = after
            elif old_index != new_index and before == after:
                into.changes.append(Change((*path, old_index), Kind.CHANGED, before, after))  # deepdiff's "moved"
            else:
                into.diff(before, after, (*path, old_index))


def _count(walk: _Walk) -> int:
    return len(walk.changes) + len(walk.added) + len(walk.removed)


def _all_scalars(items: list[Any]) -> bool:
    """Whether every item is a scalar; an item that is not JSON at all leaves the list to deepdiff (its alignment
    rules know more types)."""
    scalars = True
    for item in items:
        if not isinstance(item, _SCALARS):
            _check(item)
            scalars = False
    return scalars


def _check(value: Any) -> None:
    if not isinstance(value, (*_SCALARS, dict, list)):
        raise _Foreign
