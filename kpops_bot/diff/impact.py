"""What a pipeline's change does to the other pipelines of the repository, through the topics they share. Pure.

A pipeline's diff shows its own components; a reviewer of "rename `orders-enriched`" or "partitions 6 → 3" also
needs to know that another team's pipeline reads that topic. Here a change's touched topics (added, removed or
changed by this pipeline: declared differently, or read or written by other components) are looked up in the
repository's graph at base and at head (`diff.graph`), and the couplings a change breaks become risks:

- a topic no longer written here that another pipeline still reads, by name or by a pattern that matched it (and
  matches none of the topics written here instead), with no other writer (`danger`);
- a topic written here that another pipeline writes too, newly so (`warning`);
- a topic new to the repository that another pipeline's input pattern matches (`notice`);
- a partition count or schema-relevant config (schemas, cleanup policy, message size, timestamps) changed on a topic
  other pipelines read (`warning`).
"""

from __future__ import annotations

from collections.abc import Sequence

from kpops_bot.diff.graph import Direction, Flow, Graph, pipeline_flows
from kpops_bot.diff.kafka import TopicSpec, declared_topics
from kpops_bot.diff.model import Neighbour, Risk, RiskLevel, Status, TopicImpact, Topology, TopologyEdge, TopologyNode
from kpops_bot.model.render import ComponentRender

# Topic configs whose change a reader notices in the records it gets, beyond their number.
_SCHEMA_CONFIGS = ("cleanup.policy", "max.message.bytes", "message.timestamp.type")
_SCHEMA_PREFIX = "confluent."
MAX_NEIGHBOURS = 12  # other pipelines' components drawn in a pipeline's picture


def touched_topics(
    pipeline: str, base: Sequence[ComponentRender], head: Sequence[ComponentRender]
) -> dict[str, Status]:
    """Topics (by name) the change adds to, removes from or changes in this pipeline's data flow."""
    base_flows = {flow for flow in pipeline_flows(pipeline, base) if not flow.pattern}
    head_flows = {flow for flow in pipeline_flows(pipeline, head) if not flow.pattern}
    base_specs, head_specs = _specs(base), _specs(head)
    touched: dict[str, Status] = {}
    for topic in sorted({flow.topic for flow in base_flows | head_flows}):
        before = {flow for flow in base_flows if flow.topic == topic}
        after = {flow for flow in head_flows if flow.topic == topic}
        if not before:
            touched[topic] = Status.ADDED
        elif not after:
            touched[topic] = Status.REMOVED
        elif before != after or base_specs.get(topic) != head_specs.get(topic):
            touched[topic] = Status.CHANGED
    return touched


def assess(
    pipeline: str,
    base: Sequence[ComponentRender],
    head: Sequence[ComponentRender],
    base_graph: Graph,
    head_graph: Graph,
) -> tuple[list[TopicImpact], list[Risk]]:
    """The other pipelines on each touched topic, and the risks of what the change does to them.

    `base_graph` and `head_graph` are the repository's graphs before and after the change (this pipeline in them or
    not: it is left out)."""
    others_base, others_head = base_graph.without([pipeline]), head_graph.without([pipeline])
    writes_base = _writes(pipeline, base)
    writes_head = _writes(pipeline, head)
    base_specs, head_specs = _specs(base), _specs(head)
    impacts: list[TopicImpact] = []
    risks: list[Risk] = []
    for topic, status in touched_topics(pipeline, base, head).items():
        neighbours = _neighbours(_on(base_graph, others_base, topic), _on(head_graph, others_head, topic))
        if neighbours:
            impacts.append(TopicImpact(topic=topic, status=status, neighbours=neighbours))
        if topic in writes_base and topic not in writes_head:
            risks += _readers_left(topic, writes_base[topic], others_head, writes_head)
        if topic in writes_head:
            risks += _written_twice(topic, writes_head[topic], others_base, others_head, topic in writes_base)
            if topic not in base_graph.topics:
                risks += _pattern_matches(topic, writes_head[topic], others_head)
        old, new = base_specs.get(topic), head_specs.get(topic)
        if old is not None and new is not None:
            risks += _shared_topic_changed(old, new, others_head)
    return impacts, risks


def _on(graph: Graph, others: Graph, topic: str) -> list[Flow]:
    """The others' flows on `topic`; a pattern reads it only where some pipeline writes it."""
    flows = others.on(topic)
    return flows if graph.writers(topic) else [flow for flow in flows if not flow.pattern]


def _specs(components: Sequence[ComponentRender]) -> dict[str, TopicSpec]:
    return {name: spec for component in components for name, spec in declared_topics(component.config).items()}


def _writes(pipeline: str, components: Sequence[ComponentRender]) -> dict[str, str]:
    """Topic → the component of this pipeline that writes it."""
    flows = pipeline_flows(pipeline, components)
    return {flow.topic: flow.component for flow in flows if flow.direction is Direction.WRITES}


def _neighbours(at_base: Sequence[Flow], at_head: Sequence[Flow]) -> list[Neighbour]:
    sides: dict[tuple[str, str, Direction, str | None], list[str]] = {}
    for side, flows in (("base", at_base), ("head", at_head)):
        for flow in flows:
            key = (flow.pipeline, flow.component, flow.direction, flow.topic if flow.pattern else None)
            sides.setdefault(key, []).append(side)
    return [
        Neighbour(
            pipeline=pipeline,
            component=component,
            direction="writes" if direction is Direction.WRITES else "reads",
            pattern=pattern,
            sides=["base", "head"] if len(found) > 1 else ["base"] if found == ["base"] else ["head"],
        )
        for (pipeline, component, direction, pattern), found in sorted(sides.items(), key=lambda item: item[0][:2])
    ]


def named(flows: Sequence[Flow]) -> str:
    """`pipeline` (`component`) of each flow, with the pattern it reads through."""
    shown = []
    for flow in flows:
        through = f", by pattern `{flow.topic}`" if flow.pattern else ""
        shown.append(f"`{flow.pipeline}` (`{flow.component}`{through})")
    return ", ".join(dict.fromkeys(shown))


def _readers_left(topic: str, component: str, others_head: Graph, writes_head: dict[str, str]) -> list[Risk]:
    """The readers of a topic no longer written: by name, and by a pattern (input pattern, `topics.regex`) that
    matched it, unless the pattern matches a topic this pipeline writes instead (a rename it follows)."""
    if others_head.writers(topic):
        return []
    readers = [
        flow
        for flow in others_head.readers(topic)
        if not flow.pattern or not any(flow.reaches(written) for written in writes_head)
    ]
    if not readers:
        return []
    message = (
        f"`{component}` no longer writes topic `{topic}` (removed or renamed), but other pipelines still read it: "
        f"{named(readers)}; they receive no new records once this is merged"
    )
    return [_risk(RiskLevel.DANGER, "topic-readers-left", message, component, topic)]


def _written_twice(
    topic: str, component: str, others_base: Graph, others_head: Graph, written_before: bool
) -> list[Risk]:
    writers = others_head.writers(topic)
    if not writers or (written_before and set(writers) <= set(others_base.writers(topic))):
        return []
    message = (
        f"`{component}` writes topic `{topic}`, which other pipelines write too: {named(writers)}; its readers get "
        "both pipelines' records interleaved, and each pipeline's deploy manages the same topic"
    )
    return [_risk(RiskLevel.WARNING, "topic-written-twice", message, component, topic)]


def _pattern_matches(topic: str, component: str, others_head: Graph) -> list[Risk]:
    readers = [flow for flow in others_head.readers(topic) if flow.pattern]
    if not readers:
        return []
    message = (
        f"new topic `{topic}` of `{component}` matches the input pattern of {named(readers)}: they start consuming it"
    )
    return [_risk(RiskLevel.NOTICE, "pattern-matches-new-topic", message, component, topic)]


def _shared_topic_changed(old: TopicSpec, new: TopicSpec, others_head: Graph) -> list[Risk]:
    changes = _reader_visible_changes(old, new)
    readers = others_head.readers(new.name)
    if not changes or not readers:
        return []
    message = (
        f"topic `{new.name}`: {'; '.join(changes)}, on a topic other pipelines read: {named(readers)}; "
        "check that they cope before merging"
    )
    return [_risk(RiskLevel.WARNING, "shared-topic-changed", message, new.component, new.name)]


def _reader_visible_changes(old: TopicSpec, new: TopicSpec) -> list[str]:
    changes: list[str] = []
    if old.partitions != new.partitions:
        changes.append(f"partitions {_show(old.partitions)} → {_show(new.partitions)}")
    for key, before, after in (
        ("key_schema", old.key_schema, new.key_schema),
        ("value_schema", old.value_schema, new.value_schema),
    ):
        if before != after:
            changes.append(f"{key} {_show(before)} → {_show(after)}")
    keys = sorted(
        key
        for key in old.configs.keys() | new.configs.keys()
        if key in _SCHEMA_CONFIGS or key.startswith(_SCHEMA_PREFIX)
    )
    changes += [
        f"{key} {_show(old.configs.get(key))} → {_show(new.configs.get(key))}"
        for key in keys
        if old.configs.get(key) != new.configs.get(key)
    ]
    return changes


def _risk(level: RiskLevel, code: str, message: str, component: str, topic: str) -> Risk:
    return Risk(level=level, code=code, message=message, component=component, topic=topic)


def _show(value: object) -> str:
    return "the default" if value is None else f"`{value}`"


def with_neighbours(topology: Topology, impacts: Sequence[TopicImpact], limit: int = MAX_NEIGHBOURS) -> Topology:
    """The pipeline's picture with the other pipelines' components one hop away on its touched topics; beyond
    `limit` of them, one node counts the rest (the impact table names them all)."""
    topics = {node.label: node.id for node in topology.nodes if node.kind == "topic"}
    nodes, edges = list(topology.nodes), list(topology.edges)
    ids: dict[tuple[str, str], str] = {}
    folded = 0
    for found in impacts:
        topic = topics.get(found.topic)
        if topic is None:
            continue
        for neighbour in found.neighbours:
            key = (neighbour.pipeline, neighbour.component)
            if key not in ids and len(ids) >= limit:
                folded += 1
                continue
            if key not in ids:
                ids[key] = f"n{len(ids)}"
                label, kind = neighbour.component, f"in {neighbour.pipeline}"
                nodes.append(
                    TopologyNode(id=ids[key], label=label, kind="component", type=kind, status=Status.UNCHANGED)
                )
            pair = (topic, ids[key]) if neighbour.direction == "reads" else (ids[key], topic)
            edges.append(TopologyEdge(source=pair[0], target=pair[1]))
    if folded:
        label = f"… {folded} more (see the table)"
        nodes.append(TopologyNode(id="more", label=label, kind="component", status=Status.UNCHANGED))
    return Topology(nodes=nodes, edges=list({(e.source, e.target): e for e in edges}.values()))
