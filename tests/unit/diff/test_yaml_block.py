"""The unified diff's YAML, written out for block-style data: byte for byte what `dump_yaml` (PyYAML) writes."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from kpops_bot.diff.yaml_block import BlockWriter
from kpops_bot.yaml_text import dump_yaml
from tests.support.renders import recorded_render

# Any text (controls, line breaks, astral characters, long and empty keys), and the short words YAML reads as other
# types (`yes`, `null`, `1e3`, `0o7`), which PyYAML quotes.
_WORDS = st.sampled_from(["yes", "No", "null", "~", "1e3", "0o7", "0x1F", "-", "- a", "a: b", "#x", "'", '"', "@x"])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=140) | _WORDS
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_DOCUMENTS = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=30
)


@settings(max_examples=400, deadline=None)
@given(_DOCUMENTS)
# Line breaks YAML knows besides \n: PyYAML indents after them, so their text depends on where they stand.
@example({"0": "\x85"})
@example({"k": ["a\u2028b"], "\u2029": 1})
@example({"n": {"m": "\r"}})
def test_any_document_is_written_as_pyyaml_writes_it(document: Any) -> None:
    writer = BlockWriter()
    assert writer.dump(document) == dump_yaml(document)
    assert writer.dump(document) == dump_yaml(document), "with every scalar remembered"


def test_rendered_manifests_and_configs_are_written_as_pyyaml_writes_them() -> None:
    writer = BlockWriter()
    render = recorded_render()
    documents = [part for c in render.components for part in (c.config, *c.manifests)]
    assert len(documents) > 5
    for document in documents:
        assert writer.dump(document) == dump_yaml(document)


def test_nesting_and_empty_containers() -> None:
    document = {
        "a": {"b": [1, [2, [3, {}]], {"c": [], "d": {"e": None}}], "f": {}},
        "g": [[{"h": 1, "i": [{"j": -0.0}]}]],
        "k": [],
    }
    assert BlockWriter().dump(document) == dump_yaml(document)


def test_a_container_met_twice_is_written_with_its_anchor() -> None:
    shared = {"x": 1}
    empty: list[Any] = []
    for document in ({"a": shared, "b": shared}, {"a": empty, "b": [empty]}):
        written = BlockWriter().dump(document)
        assert written == dump_yaml(document)
        assert "&id001" in written


def test_long_texts_are_written_but_not_kept() -> None:
    writer = BlockWriter()
    document = {"script": "x" * 5000, "name": "app"}
    assert writer.dump(document) == dump_yaml(document)
    assert writer.dump(document) == dump_yaml(document)
    assert all(len(text) <= 512 for text in writer._values.values())
