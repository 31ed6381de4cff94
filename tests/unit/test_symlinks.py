"""The tree a checkout shows, from git paths and link targets alone."""

from __future__ import annotations

import pytest

from kpops_bot.symlinks import MAX_VISIBLE_PATHS, Seen, TooManyPathsError, visible_tree


def test_without_links_the_tree_is_the_git_tree() -> None:
    assert visible_tree(["a/b.yaml", "c"], {}) == {"a/b.yaml": Seen("a/b.yaml"), "c": Seen("c")}


def test_links_to_files_and_folders_and_chains_show_their_targets() -> None:
    links = {"x/file": "../a/b.yaml", "folder": "a", "chain": "folder", "deep/link": "../chain/b.yaml"}
    tree = visible_tree(["a/b.yaml", *links], links)
    assert tree == {
        "a/b.yaml": Seen("a/b.yaml"),
        "x/file": Seen("a/b.yaml", frozenset({"x/file"})),
        "folder/b.yaml": Seen("a/b.yaml", frozenset({"folder"})),
        "chain/b.yaml": Seen("a/b.yaml", frozenset({"chain", "folder"})),
        "deep/link": Seen("a/b.yaml", frozenset({"deep/link", "chain", "folder"})),
    }
    assert tree["chain/b.yaml"].git_paths("chain/b.yaml") == ["a/b.yaml", "chain", "chain/b.yaml", "folder"]


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",  # absolute
        "../../outside",  # above the root
        "missing",
        "a/b.yaml/..",  # a file used as a folder
        "self",  # a link to itself
        "",
    ],
)
def test_a_link_leading_nowhere_is_shown_as_it_is(target: str) -> None:
    tree = visible_tree(["a/b.yaml", "self"], {"self": target})
    assert tree["self"] == Seen(None, frozenset({"self"}))


def test_a_link_to_a_folder_above_it_is_not_entered() -> None:
    links = {"a/up": "..", "a/loop": "../b", "b/back": "../a"}
    tree = visible_tree(["a/f", "b/g", *links], links)
    assert set(tree) == {"a/f", "b/g", "a/loop/g", "b/back/f"}


def test_folder_links_that_multiply_without_bound_are_refused() -> None:
    """Each level links twice to the one below: level n shows 2**n copies of one file, 131072 at level 17."""
    links: dict[str, str] = {}
    for level in range(1, 18):
        links |= {f"d{level}/left": f"../d{level - 1}", f"d{level}/right": f"../d{level - 1}"}
    assert MAX_VISIBLE_PATHS < 2**17
    with pytest.raises(TooManyPathsError, match="Link fewer folders"):
        visible_tree(["d0/file", *links], links)
