"""A pipeline's data flow (components and the topics between them) with what the change does to each node."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kpops_bot.diff.kafka import declared_topics, input_topics, output_topics
from kpops_bot.diff.model import ComponentDiff, Status, Topology, TopologyEdge, TopologyNode
from kpops_bot.model.render import ComponentRender


def build(
    base: Sequence[ComponentRender], head: Sequence[ComponentRender], components: Sequence[ComponentDiff]
) -> Topology:
    """Nodes of head plus those the change removes; a topic is changed when its declaration or resource is."""
    status_of = {component.name: component.status for component in components}
    head_names = {component.name for component in head}
    shown = [*head, *(component for component in base if component.name not in head_names)]
    base_flows, head_flows = _flows(base), _flows(head)
    base_specs = {name: spec for c in base for name, spec in declared_topics(c.config).items()}
    head_specs = {name: spec for c in head for name, spec in declared_topics(c.config).items()}
    changed_resources = {
        resource.name
        for component in components
        for resource in component.resources
        if resource.kind == "KafkaTopic" and resource.status is not Status.UNCHANGED
    }

    def topic_status(topic: str) -> Status:
        in_base = topic in base_flows.topics
        in_head = topic in head_flows.topics
        if not in_base:
            return Status.ADDED
        if not in_head:
            return Status.REMOVED
        if base_specs.get(topic) != head_specs.get(topic) or topic in changed_resources:
            return Status.CHANGED
        return Status.UNCHANGED

    nodes: list[TopologyNode] = []
    ids: dict[tuple[str, str], str] = {}
    for component in shown:
        node_id = f"c{len(ids)}"
        ids["component", component.name] = node_id
        status = status_of.get(component.name, Status.UNCHANGED)
        nodes.append(
            TopologyNode(id=node_id, label=component.name, kind="component", type=component.type, status=status)
        )
    for topic in sorted(base_flows.topics | head_flows.topics):
        node_id = f"t{len(ids)}"
        ids["topic", topic] = node_id
        spec = head_specs.get(topic) or base_specs.get(topic)
        nodes.append(
            TopologyNode(
                id=node_id, label=topic, kind="topic", type=spec.role if spec else None, status=topic_status(topic)
            )
        )
    edges = [
        TopologyEdge(source=ids["topic", topic], target=ids["component", name])
        for name, topic in sorted(base_flows.reads | head_flows.reads, key=_flow_order(shown))
    ] + [
        TopologyEdge(source=ids["component", name], target=ids["topic", topic])
        for name, topic in sorted(base_flows.writes | head_flows.writes, key=_flow_order(shown))
    ]
    return Topology(nodes=nodes, edges=edges)


class _Flows:
    def __init__(self) -> None:
        self.reads: set[tuple[str, str]] = set()
        self.writes: set[tuple[str, str]] = set()

    @property
    def topics(self) -> set[str]:
        return {topic for _, topic in self.reads | self.writes}


def _flows(components: Sequence[ComponentRender]) -> _Flows:
    flows = _Flows()
    for component in components:
        flows.reads |= {(component.name, topic) for topic in input_topics(component.config)}
        flows.writes |= {(component.name, topic) for topic in output_topics(component.config)}
    return flows


def _flow_order(components: Sequence[ComponentRender]) -> Callable[[tuple[str, str]], tuple[int, str]]:
    position = {component.name: index for index, component in enumerate(components)}
    return lambda flow: (position.get(flow[0], len(position)), flow[1])
