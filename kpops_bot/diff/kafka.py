"""What a component's enriched kpops configuration says about Kafka: topics it declares, reads and writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TopicSpec:
    """A topic as a component declares it under `to.topics`; None means the cluster's default."""

    name: str
    component: str
    role: str  # output, error or the topic's label
    partitions: int | None = None
    replication: int | None = None
    configs: dict[str, str] = field(default_factory=dict)
    key_schema: str | None = None
    value_schema: str | None = None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def declared_topics(component: dict[str, Any]) -> dict[str, TopicSpec]:
    topics: dict[str, TopicSpec] = {}
    for name, declared in _mapping(_mapping(component.get("to")).get("topics")).items():
        spec = _mapping(declared)
        topics[str(name)] = TopicSpec(
            name=str(name),
            component=str(component.get("name")),
            role=str(spec.get("label") or spec.get("type") or "output"),
            partitions=_int(spec.get("partitions_count")),
            replication=_int(spec.get("replication_factor")),
            configs={str(k): str(v) for k, v in _mapping(spec.get("configs")).items()},
            key_schema=_text(spec.get("key_schema")),
            value_schema=_text(spec.get("value_schema")),
        )
    return topics


def input_topics(component: dict[str, Any]) -> list[str]:
    """Topics (and `pattern:` regexes) the component consumes, from kpops' and the charts' fields."""
    found: list[str] = []
    for name, spec in _mapping(_mapping(component.get("from")).get("topics")).items():
        kind = _mapping(spec).get("type")
        found.append(f"pattern: {name}" if kind == "pattern" else str(name))
    kafka = _mapping(_mapping(component.get("values")).get("kafka"))
    found += [str(topic) for topic in kafka.get("inputTopics") or []]
    for topics in _mapping(kafka.get("labeledInputTopics")).values():
        found += [str(topic) for topic in topics or []]
    if kafka.get("inputPattern"):
        found.append(f"pattern: {kafka['inputPattern']}")
    connector = _mapping(component.get("config"))
    if component.get("type") == "kafka-sink-connector":
        found += [topic.strip() for topic in str(connector.get("topics") or "").split(",") if topic.strip()]
        if connector.get("topics.regex"):
            found.append(f"pattern: {connector['topics.regex']}")
    return list(dict.fromkeys(found))


def output_topics(component: dict[str, Any]) -> list[str]:
    kafka = _mapping(_mapping(component.get("values")).get("kafka"))
    found = list(declared_topics(component))
    for key in ("outputTopic", "errorTopic"):
        if kafka.get(key):
            found.append(str(kafka[key]))
    found += [str(topic) for topic in _mapping(kafka.get("labeledOutputTopics")).values()]
    return list(dict.fromkeys(found))


def main_output_topic(component: dict[str, Any]) -> str | None:
    """The topic downstream consumers read: the app's `outputTopic`, else its declared `output` topic."""
    kafka = _mapping(_mapping(component.get("values")).get("kafka"))
    if kafka.get("outputTopic"):
        return str(kafka["outputTopic"])
    outputs = [topic.name for topic in declared_topics(component).values() if topic.role == "output"]
    return outputs[0] if len(outputs) == 1 else None


def consumer_group(component: dict[str, Any]) -> str | None:
    """The consumer group whose committed offsets the component resumes from, when the configuration names it."""
    kind = component.get("type")
    values = _mapping(component.get("values"))
    if kind == "kafka-sink-connector":
        name = _mapping(component.get("config")).get("name")
        return f"connect-{name}" if name else None
    for section in ("kafka", "streams"):
        application_id = _mapping(values.get(section)).get("applicationId")
        if application_id:
            return str(application_id)
    group = _mapping(values.get("kafka")).get("groupId")
    return str(group) if group else None
