"""The repository's data-flow graph as text: mermaid (for docs and forges), Graphviz dot, JSON (for machines).

Pipelines are boxes of their components; topics sit between them, so a topic one team writes and another reads
shows as the link between their boxes. A pattern read is a node of its own, linked from every topic it matches.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from kpops_bot.diff.graph import Direction, Flow, Graph
from kpops_bot.escape import mermaid_label, visible


class GraphFormat(StrEnum):
    MERMAID = "mermaid"
    JSON = "json"
    DOT = "dot"


def render_graph(graph: Graph, output_format: GraphFormat) -> str:
    if output_format is GraphFormat.JSON:
        return json.dumps(as_document(graph), indent=2, ensure_ascii=False) + "\n"
    if output_format is GraphFormat.DOT:
        return "\n".join(dot(graph)) + "\n"
    return "\n".join(mermaid(graph)) + "\n"


def as_document(graph: Graph) -> dict[str, Any]:
    """Per pipeline its components and what each reads and writes; per topic its writers and readers."""
    pipelines: dict[str, dict[str, dict[str, Any]]] = {}
    for flow in graph.flows:
        components = pipelines.setdefault(flow.pipeline, {})
        entry = components.setdefault(
            flow.component,
            {"name": flow.component, "type": flow.component_type, "reads": [], "read_patterns": [], "writes": []},
        )
        key = "writes" if flow.direction is Direction.WRITES else "read_patterns" if flow.pattern else "reads"
        entry[key].append(flow.topic)
    topics = [
        {
            "name": topic,
            "writers": [_endpoint(flow) for flow in graph.writers(topic)],
            "readers": [_endpoint(flow) for flow in graph.readers(topic)],
        }
        for topic in graph.topics
    ]
    return {
        "pipelines": [
            {"name": name, "components": list(components.values())} for name, components in sorted(pipelines.items())
        ],
        "topics": topics,
        "failed": list(graph.failed),
    }


def _endpoint(flow: Flow) -> dict[str, str]:
    endpoint = {"pipeline": flow.pipeline, "component": flow.component}
    return endpoint | ({"pattern": flow.topic} if flow.pattern else {})


class _Ids:
    """Short node ids in order of appearance: names are labels only, never ids (they may hold anything)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, ...], str] = {}

    def of(self, prefix: str, *key: str) -> str:
        return self._ids.setdefault((prefix, *key), f"{prefix}{len(self._ids)}")


def _components(graph: Graph) -> dict[str, dict[str, str]]:
    """Per pipeline its components and their types, in name order."""
    found: dict[str, dict[str, str]] = {}
    for flow in graph.flows:
        found.setdefault(flow.pipeline, {})[flow.component] = flow.component_type
    return found


def _edges(graph: Graph, ids: _Ids) -> list[tuple[str, str, bool]]:
    """(source, target, dotted) for every flow; a pattern read goes through its pattern's node."""
    edges: list[tuple[str, str, bool]] = []
    for flow in graph.flows:
        component = ids.of("c", flow.pipeline, flow.component)
        if flow.direction is Direction.WRITES:
            edges.append((component, ids.of("t", flow.topic), False))
        elif flow.pattern:
            pattern = ids.of("x", flow.topic)
            edges.append((pattern, component, True))
            edges += [(ids.of("t", topic), pattern, True) for topic in graph.topics if flow.reaches(topic)]
        else:
            edges.append((ids.of("t", flow.topic), component, False))
    return list(dict.fromkeys(edges))


def _patterns(graph: Graph) -> list[str]:
    return sorted({flow.topic for flow in graph.flows if flow.pattern})


def mermaid(graph: Graph) -> list[str]:
    ids = _Ids()
    lines = ["flowchart LR"]
    for pipeline, components in _components(graph).items():
        lines.append(f'  subgraph {ids.of("p", pipeline)}["{mermaid_label(pipeline)}"]')
        for name, kind in components.items():
            label = f"{mermaid_label(name)}<br/><i>{mermaid_label(kind)}</i>"
            lines.append(f'    {ids.of("c", pipeline, name)}(["{label}"])')
        lines.append("  end")
    lines += [f'  {ids.of("t", topic)}[("{mermaid_label(topic)}")]' for topic in graph.topics]
    lines += [f'  {ids.of("x", pattern)}{{{{"{mermaid_label(pattern)}"}}}}' for pattern in _patterns(graph)]
    lines += [f"  {source} {'-.->' if dotted else '-->'} {target}" for source, target, dotted in _edges(graph, ids)]
    if graph.failed:
        names = ", ".join(graph.failed)
        lines.append(f'  failed["{mermaid_label(f"did not render: {names}")}"]')
    return lines


def _dot_string(value: str) -> str:
    """A double-quoted dot ID: backslashes and quotes escaped, on one line."""
    return '"' + visible(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(graph: Graph) -> list[str]:
    ids = _Ids()
    lines = ["digraph kpops {", "  rankdir=LR;"]
    for pipeline, components in _components(graph).items():
        lines += [f"  subgraph cluster_{ids.of('p', pipeline)} {{", f"    label={_dot_string(pipeline)};"]
        lines += [
            f"    {ids.of('c', pipeline, name)} [shape=box, style=rounded, label={_dot_string(f'{name} ({kind})')}];"
            for name, kind in components.items()
        ]
        lines.append("  }")
    lines += [f"  {ids.of('t', topic)} [shape=cylinder, label={_dot_string(topic)}];" for topic in graph.topics]
    lines += [
        f"  {ids.of('x', pattern)} [shape=hexagon, label={_dot_string(pattern)}];" for pattern in _patterns(graph)
    ]
    lines += [
        f"  {source} -> {target}{' [style=dashed]' if dotted else ''};" for source, target, dotted in _edges(graph, ids)
    ]
    if graph.failed:
        lines.append(f"  failed [shape=note, label={_dot_string('did not render: ' + ', '.join(graph.failed))}];")
    return [*lines, "}"]
