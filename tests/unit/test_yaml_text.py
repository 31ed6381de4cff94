"""libyaml where PyYAML's pure-Python classes were: the same bytes written, the same values and line marks read, the
same message for a broken file."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kpops_bot.sources import PipelineSources, SourceFile
from kpops_bot.yaml_text import FAST_DUMPER, FAST_LOADER, compose_yaml, dump_yaml, load_yaml
from tests.support.examples import examples

# Any text: astral characters, controls, line separators, empty keys (where libyaml's emitter differs) included.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_DOCUMENTS = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=25
)
# What manifests hold: printable text with line breaks and tabs, non-empty keys (all written by libyaml).
_PLAIN_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), max_codepoint=0xFFFD, whitelist_characters="\n\t"),
    max_size=120,
)
_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _PLAIN_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_PLAIN_TEXT.filter(bool), inner, max_size=4),
    max_leaves=25,
)


def _pure_python(document: Any) -> str:
    return yaml.dump(
        document, Dumper=yaml.SafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000
    )


def test_libyaml_is_used() -> None:
    assert yaml.__with_libyaml__, "the image's PyYAML is built with libyaml"
    assert FAST_LOADER is yaml.CSafeLoader
    assert FAST_DUMPER is yaml.CSafeDumper


@settings(max_examples=examples(150), deadline=None)
@given(_DOCUMENTS)
def test_dump_writes_what_pyyaml_writes(document: Any) -> None:
    assert dump_yaml(document) == _pure_python(document)


@settings(max_examples=examples(150), deadline=None)
@given(st.dictionaries(_PLAIN_TEXT.filter(bool), _PLAIN, max_size=5))
def test_dump_of_plain_documents_writes_what_pyyaml_writes(document: dict[str, Any]) -> None:
    assert dump_yaml(document) == _pure_python(document)


@pytest.mark.parametrize(
    "document",
    [{"emoji": "deploy 🚀"}, {"": 1}, "lone scalar", {"nel": "a\x85b"}, {"é" * 70: "long key"}],
)
def test_dump_of_what_libyaml_writes_otherwise(document: Any) -> None:
    """Each of these is written otherwise by libyaml (checked: the fast dumper's text differs); the bytes stay."""
    fast = yaml.dump(
        document, Dumper=FAST_DUMPER, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000
    )
    assert fast != _pure_python(document)
    assert dump_yaml(document) == _pure_python(document)


@settings(max_examples=examples(100), deadline=None)
@given(_PLAIN)
def test_load_reads_what_pyyaml_reads(document: Any) -> None:
    text = _pure_python(document)
    assert load_yaml(text) == yaml.safe_load(text)


def test_a_broken_file_is_described_in_pyyamls_words() -> None:
    text = "name: a\n  bad: indentation\n"
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as raised:
        load_yaml(text)
    assert str(raised.value) == str(expected.value)
    assert "bad: indentation" in str(raised.value)  # the pure-Python loader's snippet of the line


def test_composed_nodes_carry_the_lines_of_pyyaml() -> None:
    text = "- name: app\n  type: streams-app\n  values:\n    replicaCount: 2\n    image: 'x'\n- name: b\n  type: app\n"

    def marks(node: yaml.Node) -> list[tuple[int, int]]:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        own = [(node.start_mark.line, node.start_mark.column)]
        return own + [mark for child in children for mark in marks(child)]

    fast = compose_yaml(text)
    assert fast is not None
    assert marks(fast) == marks(yaml.compose(text, Loader=yaml.SafeLoader))
    sources = PipelineSources(pipeline_files=[SourceFile("pipeline.yaml", text)])
    location = sources.locate("app", "streams-app", ["values", "replicaCount"])
    assert location is not None
    assert location.line == 4
