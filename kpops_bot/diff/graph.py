"""The repository's data-flow graph: which pipeline's components write and read which topics. Pure.

Kafka pipelines are coupled through topics, often across teams' folders: one pipeline's output is another's input.
The graph is read from the enriched configuration kpops renders (`diff.kafka` says what one component declares,
reads and writes), so defaults, `${...}` topic names and `from:` links are already resolved. A read is a topic or,
for `pattern` inputs, input patterns and a sink connector's `topics.regex`, a regular expression matched against
topic names as Kafka matches it (the whole name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from kpops_bot.diff.kafka import input_topics, output_topics
from kpops_bot.model.render import ComponentRender, PipelineRender

_PATTERN = "pattern: "


class Direction(StrEnum):
    READS = "reads"
    WRITES = "writes"


@dataclass(frozen=True, order=True)
class Flow:
    """One component reading or writing one topic; a pattern read names a regular expression in `topic`."""

    pipeline: str
    component: str
    topic: str
    direction: Direction
    pattern: bool = False
    component_type: str = field(default="", compare=False)

    def reaches(self, topic: str) -> bool:
        """Whether this flow is about `topic`: its name, or a pattern matching it."""
        if not self.pattern:
            return self.topic == topic
        try:
            return re.fullmatch(self.topic, topic) is not None
        except re.error:
            return False


def component_flows(pipeline: str, component: ComponentRender) -> list[Flow]:
    """What one rendered component reads and writes, in the order its configuration gives them."""
    kind = component.type
    flows = [
        Flow(pipeline, component.name, topic.removeprefix(_PATTERN), Direction.READS, topic.startswith(_PATTERN), kind)
        for topic in input_topics(component.config)
    ]
    flows += [
        Flow(pipeline, component.name, topic, Direction.WRITES, component_type=kind)
        for topic in output_topics(component.config)
    ]
    return flows


def pipeline_flows(pipeline: str, components: Iterable[ComponentRender]) -> list[Flow]:
    return [flow for component in components for flow in component_flows(pipeline, component)]


@dataclass(frozen=True)
class Graph:
    """Flows of every pipeline that rendered; `failed` names the pipelines that did not (their flows are unknown)."""

    flows: tuple[Flow, ...] = ()
    failed: tuple[str, ...] = ()

    @cached_property
    def pipelines(self) -> list[str]:
        return sorted({flow.pipeline for flow in self.flows})

    @cached_property
    def topics(self) -> list[str]:
        """Every topic named by a write or an exact read (patterns are not topics)."""
        return sorted({flow.topic for flow in self.flows if not flow.pattern})

    @cached_property
    def _by_topic(self) -> dict[str, list[Flow]]:
        indexed: dict[str, list[Flow]] = {}
        for flow in self.flows:
            if not flow.pattern:
                indexed.setdefault(flow.topic, []).append(flow)
        return indexed

    @cached_property
    def _patterns(self) -> list[Flow]:
        return [flow for flow in self.flows if flow.pattern]

    def on(self, topic: str) -> list[Flow]:
        """Every flow about `topic`: its writers, its readers by name and the patterns that match it."""
        return [*self._by_topic.get(topic, []), *(flow for flow in self._patterns if flow.reaches(topic))]

    def readers(self, topic: str, *, patterns: bool = True) -> list[Flow]:
        return [f for f in self.on(topic) if f.direction is Direction.READS and (patterns or not f.pattern)]

    def writers(self, topic: str) -> list[Flow]:
        return [flow for flow in self.on(topic) if flow.direction is Direction.WRITES]

    def without(self, pipelines: Iterable[str]) -> Graph:
        """The graph with the named pipelines left out."""
        left_out = set(pipelines)
        return Graph(
            flows=tuple(flow for flow in self.flows if flow.pipeline not in left_out),
            failed=tuple(name for name in self.failed if name not in left_out),
        )

    def with_pipelines(self, renders: Sequence[PipelineRender]) -> Graph:
        """The graph with these pipelines as rendered here, in place of what it held of them."""
        return merge([self.without(render.name for render in renders), build(renders)])


def build(renders: Iterable[PipelineRender]) -> Graph:
    """The graph of these rendered pipelines; a render that failed is named in `failed`."""
    flows: list[Flow] = []
    failed: list[str] = []
    for render in renders:
        if render.ok:
            flows += pipeline_flows(render.name, render.components)
        else:
            failed.append(render.name)
    return Graph(flows=tuple(sorted(set(flows))), failed=tuple(sorted(failed)))


def merge(graphs: Iterable[Graph]) -> Graph:
    flows: set[Flow] = set()
    failed: set[str] = set()
    for graph in graphs:
        flows.update(graph.flows)
        failed.update(graph.failed)
    return Graph(flows=tuple(sorted(flows)), failed=tuple(sorted(failed)))
