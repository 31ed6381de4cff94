"""YAML as the bot reads and writes it: one home for the parser and emitter, one way for GitOps files, diffs and
the command line's output.

Bulk parsing and dumping go through libyaml (`CSafeLoader` / `CSafeDumper`, several times faster than PyYAML's
pure-Python classes: a root defaults change composes the same files hundreds of times and dumps every manifest
for its unified diff); the pure-Python classes stand in where PyYAML was built without libyaml. A text libyaml
refuses is parsed again by the pure-Python loader, so that a person's broken file is described in PyYAML's own
words (with the line's snippet), as before.

Written YAML: keys keep their order, non-ASCII text stays as it is (a diff shows what the file holds), block
style, no line folding. PyYAML, not ruamel.yaml: the bot only writes YAML it generated and never edits a person's
file, so keeping comments and layout on a round trip is not needed.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# libyaml's classes when PyYAML has them (the wheels do), else the pure-Python ones with the same behaviour.
FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FAST_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, through libyaml; a YAMLError is the pure-Python loader's (its message names the line)."""
    try:
        return yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        return yaml.load(text, Loader=yaml.SafeLoader)


def compose_yaml(text: str) -> yaml.Node | None:
    """`yaml.compose` with the safe loader, through libyaml: its nodes carry the same line marks."""
    try:
        return yaml.compose(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        return yaml.compose(text, Loader=yaml.SafeLoader)


# Characters libyaml's emitter writes otherwise than PyYAML's (escapes astral characters, quotes and breaks others
# its own way): a document holding one is written by PyYAML, so that the bytes never depend on which one ran.
_EMITTED_OTHERWISE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff\U00010000-\U0010ffff]"
)


def dump_yaml(document: Any) -> str:
    dumper = FAST_DUMPER if _emitted_alike(document) else yaml.SafeDumper
    return yaml.dump(
        document, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000
    )


def _emitted_alike(document: Any) -> bool:
    """Whether libyaml writes the document byte for byte as PyYAML does (tests/unit/test_yaml_text.py checks it): a
    mapping or list (PyYAML ends a lone scalar with `...`) of plain values, whose keys are non-empty strings
    (PyYAML writes an empty key as `? ''`) and whose text has none of the characters above."""
    if not isinstance(document, dict | list):
        return False
    pending: list[Any] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if not isinstance(key, str) or not key or _EMITTED_OTHERWISE.search(key) or _long_key(key):
                    return False
                pending.append(value)
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if _EMITTED_OTHERWISE.search(item):
                return False
        elif item is not None and not isinstance(item, bool | int | float):
            return False
    return True


def _long_key(key: str) -> bool:
    """A key whose UTF-8 is 128 bytes or more, though shorter in characters: PyYAML counts characters to decide
    whether it is a simple key (`key: value`), libyaml counts bytes (`? key`)."""
    return not key.isascii() and len(key.encode()) >= 128
