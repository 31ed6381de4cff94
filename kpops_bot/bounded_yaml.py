"""YAML from a pull request, parsed inside the bot's own process with bounds.

PyYAML's safe loader shares an aliased node instead of copying it, so a 489-byte "billion laughs" loads fast,
but everything after it (pydantic, `str()`, a walk over the nodes, a JSON dump) expands the sharing: such a file
in `.kpops-bot.yaml` ran the bot out of memory after two minutes. Here a file is refused before parsing when it is
larger than a cap, while composing when it nests deeper than a limit, and after composing when its nodes with
every alias expanded outnumber a limit (or, where the bot's own file has no use for them, when it has an alias at
all). Composing itself stays linear in the file's size (libyaml for the files read in bulk; it stops at its own
nesting limit of 1,000 levels); the expanded count and depth are computed once per shared node.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent

from kpops_bot.yaml_text import compose_yaml

MAX_BYTES = 1024 * 1024
"""Larger than any kpops pipeline, config or defaults file a person writes by hand."""
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000
"""Nodes of a document with each alias counted as a copy of what it names."""


class UnsafeYamlError(yaml.YAMLError):
    """A file refused before or while parsing; the message names the file and the bound it broke."""


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader with a nesting limit and, when `allow_aliases` is False, no aliases."""

    def __init__(self, stream: str, name: str, *, allow_aliases: bool) -> None:
        super().__init__(stream)
        self._name = name
        self._allow_aliases = allow_aliases
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self._allow_aliases and self.check_event(AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            msg = f"{self._name} uses a YAML alias (line {event.start_mark.line + 1}); aliases are not accepted here"
            raise UnsafeYamlError(msg)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                msg = f"{self._name} nests deeper than {MAX_DEPTH} levels"
                raise UnsafeYamlError(msg)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose_bounded(text: str, name: str, *, allow_aliases: bool = True) -> yaml.Node | None:
    """The node tree of one YAML document from a pull request; `UnsafeYamlError` when it breaks a bound.

    Files that may hold aliases (pipelines, defaults: read in bulk) are composed by libyaml, which stops at its own
    nesting limit, and their depth is checked on the tree; the bot's own file is composed by the pure-Python loader,
    which refuses an alias where it stands (its line named)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        msg = f"{name} is {size} bytes; files larger than {MAX_BYTES} bytes are not read"
        raise UnsafeYamlError(msg)
    try:
        root = compose_yaml(text) if allow_aliases else _compose_without_aliases(text, name)
    except RecursionError as error:  # the pure-Python fallback, for a text libyaml refused
        msg = f"{name} nests deeper than {MAX_DEPTH} levels"
        raise UnsafeYamlError(msg) from error
    if root is not None:
        try:
            _check_expanded(root, name)
        except RecursionError as error:
            msg = f"{name} nests too deep through its YAML aliases"
            raise UnsafeYamlError(msg) from error
    return root


def _compose_without_aliases(text: str, name: str) -> yaml.Node | None:
    loader = _BoundedLoader(text, name, allow_aliases=False)
    try:
        root: yaml.Node | None = loader.get_single_node()
    finally:
        loader.dispose()
    return root


def load_bounded(text: str, name: str, *, allow_aliases: bool = True) -> Any:
    """`yaml.safe_load` of a file from a pull request within the bounds above; `UnsafeYamlError` otherwise."""
    root = compose_bounded(text, name, allow_aliases=allow_aliases)
    if root is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _check_expanded(root: yaml.Node, name: str) -> None:
    """Refuse a document whose alias-expanded node count passes the limit, or that contains itself."""
    counted: dict[int, tuple[int, int]] = {}  # a node's expanded count and height
    open_nodes: set[int] = set()

    def count(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in counted:
            return counted[key]
        if key in open_nodes:
            msg = f"{name} has a YAML alias that refers to itself"
            raise UnsafeYamlError(msg)
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        below = [count(child) for child in children]
        total = 1 + sum(nodes for nodes, _ in below)
        height = 1 + max((levels for _, levels in below), default=0)
        open_nodes.discard(key)
        if height > MAX_DEPTH:
            msg = f"{name} nests deeper than {MAX_DEPTH} levels"
            raise UnsafeYamlError(msg)
        if total > MAX_EXPANDED_NODES:
            msg = f"{name} expands to more than {MAX_EXPANDED_NODES} YAML nodes through its aliases"
            raise UnsafeYamlError(msg)
        counted[key] = total, height
        return total, height

    count(root)
