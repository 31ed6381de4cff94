"""Where a component, a field or a value comes from: the YAML node of the pipeline file or defaults file that set it.

Pure: it reads the texts of a pipeline's kpops files at a revision (the dry run hands them over from the git mirror)
and composes them with PyYAML, whose nodes carry line numbers. kpops merges a component from its entry in
`pipeline_<env>.yaml` / `pipeline.yaml` and from the `defaults*.yaml` sections of its type and of the types it
derives from; the first file in that order that sets a field most precisely is its source. Keys that kpops
substitutes (`${output_topic_name}`) match whatever they became.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import yaml
from pydantic import BaseModel

from kpops_bot.bounded_yaml import compose_bounded

# The defaults sections a kpops type inherits, most specific first (kpops' own class hierarchy).
_STREAMS_BOOTSTRAP = ("streams-bootstrap", "kafka-app", "helm-app", "kubernetes-app", "pipeline-component")
_CLEANER = ("streams-bootstrap-cleaner", "cleaner", *_STREAMS_BOOTSTRAP)
_CONNECTOR = ("kafka-connector", "pipeline-component")
_ANCESTORS: dict[str, tuple[str, ...]] = {
    "streams-app": _STREAMS_BOOTSTRAP,
    "producer-app": _STREAMS_BOOTSTRAP,
    "consumer-app": _STREAMS_BOOTSTRAP,
    "consumer-producer-app": _STREAMS_BOOTSTRAP,
    "streams-app-cleaner": _CLEANER,
    "producer-app-cleaner": _CLEANER,
    "kafka-sink-connector": _CONNECTOR,
    "kafka-source-connector": _CONNECTOR,
    "helm-app": ("kubernetes-app", "pipeline-component"),
    "kafka-app": ("pipeline-component",),
    "kubernetes-app": ("pipeline-component",),
}
_SUBSTITUTION = re.compile(r"\$\{[^}]*\}")

Segment = str | int


class SourceLocation(BaseModel):
    """The line of a repository file that set what a risk is about (1-based), for reviewers and annotations."""

    file: str
    line: int


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str

    @cached_property
    def root(self) -> yaml.Node | None:
        try:
            return compose_bounded(self.text, self.path)
        except yaml.YAMLError:
            return None


class SourceFiles:
    """The kpops files of one revision, each read and composed once per run: a root `defaults.yaml` change reaches
    every pipeline, and each pipeline's sources hold the same defaults files (composing them anew per pipeline
    was most of the diff stage). `read` gives a file's text at the revision, None when it has none."""

    def __init__(
        self, read: Callable[[str], str | None], read_many: Callable[[list[str]], dict[str, str | None]] | None = None
    ) -> None:
        self._read = read
        self._read_many = read_many
        self._files: dict[str, SourceFile | None] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        """Read the files not read yet all at once (through `read_many`), before they are asked for one by one."""
        if self._read_many is None:
            return
        texts = self._read_many([path for path in dict.fromkeys(paths) if path not in self._files])
        for path, text in texts.items():
            self._files[path] = None if text is None else SourceFile(path, text)

    def __call__(self, paths: Iterable[str]) -> list[SourceFile]:
        files = []
        for path in paths:
            if path not in self._files:
                text = self._read(path)
                self._files[path] = None if text is None else SourceFile(path, text)
            if (source := self._files[path]) is not None:
                files.append(source)
        return files


@dataclass(frozen=True)
class PipelineSources:
    """A pipeline's kpops files at one revision, each list in kpops' order of precedence."""

    pipeline_files: Sequence[SourceFile] = ()
    defaults_files: Sequence[SourceFile] = field(default_factory=tuple)

    def locate(
        self,
        component: str | None,
        component_type: str | None = None,
        path: Sequence[Segment] = (),
        value: str | None = None,
    ) -> SourceLocation | None:
        """The line that sets `path` of the component (or holds `value` in it): the first file in kpops' order that
        has the whole path; else as much of it as the component's own entry has; else the deepest defaults match."""
        matches: list[tuple[bool, int, SourceLocation]] = []
        for source, node, own in self._sections(component, component_type):
            depth, found = _walk(node, path)
            if value is not None:
                hit = _find_value(node, value)
                if hit is not None:
                    depth, found = len(path) + 1, hit
            matches.append((own, depth, SourceLocation(file=source.path, line=found.start_mark.line + 1)))
        # a value found, or the whole path (when there is one)
        complete = [location for _, depth, location in matches if depth > len(path) or (path and depth == len(path))]
        if complete:
            return complete[0]
        own_entry = [(depth, location) for own, depth, location in matches if own]
        if own_entry:
            return max(own_entry, key=lambda item: item[0])[1]
        if matches:
            return max(((depth, location) for _, depth, location in matches), key=lambda item: item[0])[1]
        if self.pipeline_files:
            return SourceLocation(file=self.pipeline_files[-1].path, line=1)
        return None

    def unnamed(self, component_type: str | None, path: Sequence[Segment] = ()) -> tuple[SourceLocation, str] | None:
        """The first entry without a `name:` (of `component_type` when one is): the line that sets `path` in it (as
        deep as it goes) and its type. kpops names no such component in its errors: it has nothing to call it by."""
        entries = [
            (source, entry)
            for source in reversed(self.pipeline_files)  # pipeline.yaml first: kpops takes the components from it
            for entry in _entries(source.root)
            if _child(entry, "name") is None
        ]
        typed = [(source, entry) for source, entry in entries if _scalar(entry, "type") == component_type]
        for source, entry in typed or entries:
            found = _walk(entry, path)[1]
            return SourceLocation(file=source.path, line=found.start_mark.line + 1), _scalar(entry, "type") or "?"
        return None

    def untyped(self) -> tuple[SourceLocation, str | None] | None:
        """The first entry without a `type:` (kpops stops at it): its line and its name, if it has one."""
        for source in reversed(self.pipeline_files):
            for entry in _entries(source.root):
                if _child(entry, "type") is None:
                    return SourceLocation(file=source.path, line=entry.start_mark.line + 1), _scalar(entry, "name")
        return None

    def disabled(self) -> list[tuple[str, str, SourceLocation]]:
        """Components that `enabled: false` switches off, in their entry or their type's defaults: (name, type, the
        line of the `enabled` that decides)."""
        if not any(_may_name_enabled(source.text) for source in (*self.pipeline_files, *self.defaults_files)):
            return []  # nothing to compose: most pipelines of a wide change switch nothing off
        components: dict[str, str | None] = {}
        for source in self.pipeline_files:
            for entry in _entries(source.root):
                name = _scalar(entry, "name")
                if name is not None:
                    components.setdefault(name, _scalar(entry, "type"))
        found: list[tuple[str, str, SourceLocation]] = []
        for name, kind in components.items():
            deciding = next(
                ((source, flag) for source, node, _ in self._sections(name, kind) if (flag := _child(node, "enabled"))),
                None,
            )
            if deciding is None:
                continue
            source, flag = deciding
            if isinstance(flag, yaml.ScalarNode) and flag.value.lower() == "false":
                found.append((name, kind or "?", SourceLocation(file=source.path, line=flag.start_mark.line + 1)))
        return found

    def _sections(
        self, component: str | None, component_type: str | None
    ) -> Iterator[tuple[SourceFile, yaml.Node, bool]]:
        """(file, node, whether it is the component's own entry) in kpops' order of precedence."""
        for source in self.pipeline_files:
            for entry in _entries(source.root):
                if component is not None and _scalar(entry, "name") == component:
                    yield source, entry, True
        if component_type is None:
            return
        for type_name in (component_type, *_ANCESTORS.get(component_type, ("pipeline-component",))):
            for source in self.defaults_files:
                section = _child(source.root, type_name)
                if section is not None:
                    yield source, section, False


def _entries(root: yaml.Node | None) -> list[yaml.MappingNode]:
    if isinstance(root, yaml.SequenceNode):
        return [item for item in root.value if isinstance(item, yaml.MappingNode)]
    return []


def _may_name_enabled(text: str) -> bool:
    """Whether the text can hold an `enabled` key: written out, or spelt with escapes (only a double-quoted
    scalar has them, `"enab\\x6ced"`); a folded line joins with a space, so it cannot make the word."""
    return "enabled" in text or "\\" in text


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for name, value in node.value if isinstance(name, yaml.ScalarNode) and name.value == key), None)


def _scalar(node: yaml.Node, key: str) -> str | None:
    child = _child(node, key)
    return str(child.value) if isinstance(child, yaml.ScalarNode) else None


def _walk(node: yaml.Node, path: Sequence[Segment]) -> tuple[int, yaml.Node]:
    """How deep `path` goes into the node, and the key node (or item) of the last step that matched."""
    depth, found = 0, node
    for segment in path:
        step = _step(node, segment)
        if step is None:
            break
        found, node = step
        depth += 1
    return depth, found


def _step(node: yaml.Node, segment: Segment) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(segment, int) and 0 <= segment < len(node.value):
        item: yaml.Node = node.value[segment]
        return item, item
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and _key_matches(str(key.value), str(segment)):
            return key, value
    return None


def _key_matches(key: str, segment: str) -> bool:
    if key == segment:
        return True
    if "${" not in key:
        return False
    pattern = ".+".join(re.escape(part) for part in _SUBSTITUTION.split(key))
    return re.fullmatch(pattern, segment) is not None


def _find_value(node: yaml.Node, value: str) -> yaml.Node | None:
    if isinstance(node, yaml.ScalarNode):
        text = str(node.value)
        return node if text == value or ("${" in value and value in text) else None
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [child for _, child in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        hit = _find_value(child, value)
        if hit is not None:
            return hit
    return None


def config_line(text: str, path: Sequence[Segment]) -> int | None:
    """The line of the deepest key of `path` a YAML document has (its first line when none), None if unparsable."""
    try:
        root = compose_bounded(text, "config")
    except yaml.YAMLError:
        return None
    if root is None:
        return None
    return _walk(root, path)[1].start_mark.line + 1
