"""The hand-written tree diff reports what deepdiff reports, on generated JSON-like trees.

The strategies draw from small alphabets so that keys collide, lists share items (difflib's alignment and its
"fewer changes" choice), values change type (`1`, `1.0`, `True`) and dicts share few keys (deepdiff's threshold).
"""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kpops_bot.diff.deep_diff import DeepDiff
from kpops_bot.diff.tree_diff import Change, Kind, tree_changes
from tests.support.examples import examples

SCALARS = st.sampled_from([0, 1, 2, 1.0, 2.5, True, False, None, "a", "b", "", "x\ny"]) | st.floats()
KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
TREES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


def _coin(data: st.DataObject) -> bool:
    return data.draw(st.booleans())


def _edited(data: st.DataObject, tree: Any) -> Any:
    """`tree` with some subtrees replaced, items dropped, inserted or reordered: a plausible next revision."""
    choice = data.draw(st.integers(0, 5))
    if choice == 0:
        return data.draw(TREES)
    if isinstance(tree, dict):
        edited = {key: _edited(data, value) if _coin(data) else value for key, value in tree.items()}
        if _coin(data):
            edited[data.draw(KEYS)] = data.draw(TREES)
        return edited
    if isinstance(tree, list):
        edited_list = [_edited(data, item) if _coin(data) else item for item in tree]
        if edited_list and _coin(data):
            del edited_list[data.draw(st.integers(0, len(edited_list) - 1))]
        if _coin(data):
            edited_list.insert(data.draw(st.integers(0, len(edited_list))), data.draw(TREES))
        return edited_list
    return tree


def _deepdiff(old: Any, new: Any) -> list[str]:
    found = []
    for report_type, items in DeepDiff(old, new, view="tree", verbose_level=2).items():
        kind = Kind.ADDED if report_type.endswith("_added") else Kind.REMOVED
        kind = kind if report_type.endswith(("_added", "_removed")) else Kind.CHANGED
        for item in items:
            old_value = None if kind is Kind.ADDED else item.t1
            new_value = None if kind is Kind.REMOVED else item.t2
            found.append(Change(tuple(item.path(output_format="list")), kind, old_value, new_value))
    return _shown(found)


def _shown(changes: list[Change]) -> list[str]:
    """Comparable whatever the order, NaN included (it equals nothing)."""
    return sorted(repr(change) for change in changes)


@settings(max_examples=examples(600), deadline=None)
@given(st.data())
def test_edited_trees_diff_as_deepdiff_does(data: st.DataObject) -> None:
    old = data.draw(TREES)
    new = _edited(data, old)
    assert _shown(tree_changes(old, new)) == _deepdiff(old, new)


@settings(max_examples=examples(300), deadline=None)
@given(TREES, TREES)
def test_unrelated_trees_diff_as_deepdiff_does(old: Any, new: Any) -> None:
    assert _shown(tree_changes(old, new)) == _deepdiff(old, new)


def test_lists_of_scalars_are_aligned_and_counted_as_deepdiff_does() -> None:
    assert _shown(tree_changes({"l": [1, 2, 3]}, {"l": [2, 3]})) == [repr(Change(("l", 0), Kind.REMOVED, 1, None))]
    assert tree_changes([1], [True]) == []  # difflib sees equal items; a mapping value would change type
    assert tree_changes({"a": 1}, {"a": True}) == [Change(("a",), Kind.CHANGED, 1, True)]


def test_a_tree_holding_other_types_is_left_to_deepdiff() -> None:
    old = {"when": datetime.date(2024, 1, 1), "items": [datetime.date(2024, 1, 2)]}
    new = {"when": datetime.date(2024, 1, 3), "items": [datetime.date(2024, 1, 2), datetime.date(2024, 1, 4)]}
    assert _shown(tree_changes(old, new)) == _deepdiff(old, new)
