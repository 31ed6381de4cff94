"""The YAML text of a resource for its unified diff, byte for byte what `yaml_text.dump_yaml` writes, faster.

A wide change dumps every changed resource twice (base and head), and PyYAML spends most of that in its Python
representer: a node object and a resolver call for every value (libyaml's `CSafeDumper` emits in C but still
represents in Python). The block layout of plain JSON-like data is simple
(`key: value`, nested mappings two spaces in, lists at their key's column, `{}` and `[]` for empty ones), so it is
written out here; only how each scalar is written (plain, quoted, escaped) is PyYAML's own, asked once per distinct
key or value and remembered. A document this layout does not cover exactly goes to `dump_yaml` itself: a scalar
PyYAML writes over several lines (a multi-line string, a long key), a container found twice (PyYAML writes an
anchor), anything but a non-empty mapping at the top. tests/unit/diff/test_yaml_block.py compares both.
"""

from __future__ import annotations

from typing import Any

from kpops_bot.yaml_text import dump_yaml

_KEPT = 100_000  # scalars remembered: one run's keys and values; a long-lived process starts over
_LONGEST_KEPT = 512  # a longer text (a certificate, a script) is written anew each time, not kept
_SCALARS = frozenset({str, bool, int, float, type(None)})


class _Irregular(Exception):
    """The document holds something whose text depends on more than the value itself."""


class BlockWriter:
    """Writes documents, remembering how PyYAML writes each scalar. Threads may share one: a scalar's text is the
    same whoever works it out, and each memory update is one dict operation."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._values: dict[tuple[type, str], str] = {}

    def dump(self, document: Any) -> str:
        if not isinstance(document, dict) or not document:
            return dump_yaml(document)
        lines: list[str] = []
        try:
            self._learn(document)
            self._mapping(document, 0, lines, set())
        except _Irregular:
            return dump_yaml(document)
        return "\n".join(lines) + "\n"

    def _learn(self, document: dict[Any, Any]) -> None:
        """The texts of the document's keys and scalars not met before, from one PyYAML dump of them all (a dump
        each cost more than writing the document): `- k: <value>` and `- <key>: null`, a line each."""
        keys: dict[str, None] = {}
        values: dict[tuple[type, str], Any] = {}
        pending: list[Any] = [document]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    if isinstance(key, str) and key not in self._keys:
                        keys[key] = None
                    pending.append(value)
            elif isinstance(item, list):
                pending.extend(item)
            elif type(item) in _SCALARS and (memo := _memo(item)) not in self._values:
                values[memo] = item
        if not keys and not values:
            return
        written = dump_yaml([*({"k": value} for value in values.values()), *({key: None} for key in keys)])
        lines = written.split("\n")[:-1]
        if written.count("\n") != len(values) + len(keys) or _other_breaks(written):
            raise _Irregular  # one of them takes several lines
        for memo, line in zip(values, lines, strict=False):
            if not line.startswith("- k: "):
                raise _Irregular
            _remember(self._values, memo, line[len("- k: ") :])
        for key, line in zip(keys, lines[len(values) :], strict=True):
            if not line.endswith(": null") or not line.startswith("- "):
                raise _Irregular
            _remember(self._keys, key, line[len("- ") : -len(": null")])

    def _mapping(self, mapping: dict[Any, Any], indent: int, lines: list[str], seen: set[int]) -> None:
        _once(mapping, seen)
        pad = " " * indent
        for key, value in mapping.items():
            head = f"{pad}{self._key(key)}:"
            if isinstance(value, dict) and value:
                lines.append(head)
                self._mapping(value, indent + 2, lines, seen)
            elif isinstance(value, list) and value:
                lines.append(head)
                self._sequence(value, indent, lines, seen)  # PyYAML writes a mapping's list at the key's column
            else:
                lines.append(f"{head} {self._value(value, seen)}")

    def _sequence(self, items: list[Any], indent: int, lines: list[str], seen: set[int]) -> None:
        _once(items, seen)
        pad = " " * indent
        for item in items:
            if isinstance(item, dict | list) and item:
                start = len(lines)
                if isinstance(item, dict):
                    self._mapping(item, indent + 2, lines, seen)
                else:
                    self._sequence(item, indent + 2, lines, seen)
                lines[start] = f"{pad}- {lines[start][indent + 2 :]}"
            else:
                lines.append(f"{pad}- {self._value(item, seen)}")

    def _key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise _Irregular
        text = self._keys.get(key)
        if text is None:
            written = dump_yaml({key: None})
            if not written.endswith(": null\n") or written.count("\n") != 1 or _other_breaks(written):
                raise _Irregular  # a long or multi-line key: PyYAML writes it as `? key`
            text = _remember(self._keys, key, written[: -len(": null\n")])
        return text

    def _value(self, value: Any, seen: set[int]) -> str:
        if isinstance(value, dict | list):  # empty: `{}` / `[]`
            _once(value, seen)
            return "{}" if isinstance(value, dict) else "[]"
        if type(value) not in _SCALARS:  # subclasses too (enums): PyYAML decides about those
            raise _Irregular
        memo = _memo(value)
        text = self._values.get(memo)
        if text is None:
            written = dump_yaml({"k": value})
            if not written.startswith("k: ") or written.count("\n") != 1 or _other_breaks(written):
                raise _Irregular  # written over several lines: its text depends on where it stands
            text = _remember(self._values, memo, written[len("k: ") : -1])
        return text


def _other_breaks(written: str) -> bool:
    """Line breaks besides `\\n` (YAML's NEL, line and paragraph separators, CR): PyYAML indents after them too."""
    return any(mark in written for mark in "\r\x85\u2028\u2029")


def _memo(value: Any) -> tuple[type, str]:
    return type(value), value if isinstance(value, str) else repr(value)  # repr: 0.0 and -0.0 differ


def _once(container: dict[Any, Any] | list[Any], seen: set[int]) -> None:
    """PyYAML writes a container met twice as an anchor and an alias."""
    if id(container) in seen:
        raise _Irregular
    seen.add(id(container))


def _remember(memory: dict[Any, str], key: Any, text: str) -> str:
    if len(text) > _LONGEST_KEPT:
        return text
    if len(memory) >= _KEPT:
        memory.clear()
    memory[key] = text
    return text


_WRITER = BlockWriter()


def block_yaml(document: Any) -> str:
    """`dump_yaml(document)`, with the scalars' texts remembered for the process."""
    return _WRITER.dump(document)
