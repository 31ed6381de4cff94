"""Kafka and Kubernetes risk checks: what a manifest diff cannot tell a reviewer.

Each check compares a pipeline's components at base and at head (None on a side means the pipeline does not exist
there: added or removed), or looks at the head alone: substitutions kpops left literal, manifests the API server
would refuse, components switched off with `enabled: false`. Every risk is mapped to the line of the pipeline or
defaults file behind it (`sources`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpops_bot.diff.kafka import (
    CONNECTOR_TYPES,
    TopicSpec,
    consumer_group,
    declared_topics,
    main_output_topic,
)
from kpops_bot.diff.manifest_schemas import DEFAULT_KUBERNETES_VERSION, violations
from kpops_bot.diff.model import Risk, RiskLevel
from kpops_bot.diff.paths import format_path
from kpops_bot.diff.sources import PipelineSources, Segment
from kpops_bot.engine.model import ComponentRender

_RETENTION_KEYS = ("retention.ms", "retention.bytes")
_INFINITE = -1
# kpops leaves `${NAME}` as it is when nothing defines NAME; `${provider:path:key}` is Kafka Connect's own syntax.
_LITERAL_VARIABLE = re.compile(r"\$\{(?P<name>[^}:]+)\}")


@dataclass(frozen=True)
class RiskContext:
    """What the head-only checks need besides the renders: the repository's files and Kubernetes' version."""

    sources: PipelineSources = field(default_factory=PipelineSources)
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    # The manifest as the report may show it: a violation's value is left out where masking changes it.
    mask_resource: Callable[[dict[str, Any]], Any] = lambda resource: resource


def assess(
    pipeline: str,
    base: Sequence[ComponentRender] | None,
    head: Sequence[ComponentRender] | None,
    context: RiskContext | None = None,
) -> list[Risk]:
    context = context or RiskContext()
    risks = _compared(pipeline, base, head)
    if head is not None:
        risks += _unset_variables(head)
        risks += _invalid_manifests(head, context)
        risks += _disabled(base or [], head, context)
    types = {component.name: component.type for component in [*(base or []), *(head or [])]}
    for risk in risks:
        if risk.source is None and risk.code != "pipeline-removed":
            path = risk._path
            risk.source = context.sources.locate(risk.component, types.get(risk.component or ""), path, risk.value)
    order = {level: -level.rank for level in RiskLevel}
    return sorted(risks, key=lambda risk: (order[risk.level], risk.topic or "", risk.component or "", risk.code))


def _compared(
    pipeline: str, base: Sequence[ComponentRender] | None, head: Sequence[ComponentRender] | None
) -> list[Risk]:
    if base is None:
        return []
    if head is None:
        return [_pipeline_removed(pipeline, base)]
    base_topics, head_topics = _topics(base), _topics(head)
    risks, renamed = _removed_topics(base_topics, head_topics)
    for name in base_topics.keys() & head_topics.keys():
        risks += _topic_changes(base_topics[name], head_topics[name])
    head_by_name = {component.name: component for component in head}
    for old in base:
        new = head_by_name.get(old.name)
        if new is not None:
            risks += _component_changes(old.config, new.config, renamed)
    return risks


def _unset_variables(head: Sequence[ComponentRender]) -> list[Risk]:
    risks: list[Risk] = []
    for component in head:
        for path, text in _strings(component.config, ()):
            for match in _LITERAL_VARIABLE.finditer(text):
                variable = match["name"]
                message = (
                    f"`{component.name}`: `{format_path(path)}` keeps `${{{variable}}}` literally: nothing defines "
                    f"`{variable}` where kpops rendered it, so the deployed value is the placeholder itself"
                )
                risk = _risk(RiskLevel.WARNING, "variable-unset", message, component.name, path=path)
                risk.value = match[0]
                risks.append(risk)
    return risks


def _strings(value: Any, prefix: tuple[Segment, ...]) -> Iterator[tuple[tuple[Segment, ...], str]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(child, (*prefix, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, (*prefix, index))
    elif isinstance(value, str):
        yield prefix, value


def _invalid_manifests(head: Sequence[ComponentRender], context: RiskContext) -> list[Risk]:
    version = context.kubernetes_version
    risks: list[Risk] = []
    for component in head:
        for manifest in component.manifests:
            found = violations(manifest, version)
            shown = context.mask_resource(manifest) if found else manifest
            for violation in found:
                hidden = _at(shown, violation.path) != _at(manifest, violation.path)
                reason = (
                    f"{violation.kind} `{violation.name}`: {violation.field}: a masked value fails {violation.rule}"
                    if hidden
                    else violation.describe()
                )
                message = f"`{component.name}`: the API server would refuse {reason} (Kubernetes {version} / Strimzi)"
                risk = _risk(RiskLevel.DANGER, "manifest-invalid", message, component.name)
                risk.field = violation.field
                risk.value = violation.value if isinstance(violation.value, str) and not hidden else None
                risks.append(risk)
    return risks


def _at(document: Any, path: Sequence[str | int]) -> Any:
    for segment in path:
        try:
            document = document[segment]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def _disabled(base: Sequence[ComponentRender], head: Sequence[ComponentRender], context: RiskContext) -> list[Risk]:
    """`enabled: false` (kpops ≥ 10.7) drops a component from the output; what happens to what runs depends on mode."""
    rendered = {component.name for component in head}
    deployed = {component.name for component in base}
    risks: list[Risk] = []
    for name, _kind, where in context.sources.disabled():
        if name in rendered:
            continue
        if name not in deployed:
            message = f"`{name}` is disabled (`enabled: false`): it is not rendered and not deployed"
            level = RiskLevel.NOTICE
        else:
            message = (
                f"`{name}` is disabled (`enabled: false`): kpops drops it from the output. In managed mode nothing "
                "of it is destroyed on merge, so what is deployed keeps running unmanaged (destroy it first); in "
                "manifest and argo mode its manifests leave the GitOps folder and a sync with prune deletes them, "
                "its KafkaTopics too"
            )
            level = RiskLevel.WARNING
        risk = _risk(level, "component-disabled", message, name)
        risk.source = where
        risks.append(risk)
    return risks


def _topics(components: Sequence[ComponentRender]) -> dict[str, TopicSpec]:
    topics: dict[str, TopicSpec] = {}
    for component in components:
        topics.update(declared_topics(component.config))
    return topics


def _pipeline_removed(pipeline: str, base: Sequence[ComponentRender]) -> Risk:
    topics = sorted(_topics(base))
    detail = f" and its topics {', '.join(f'`{t}`' for t in topics)} are no longer managed" if topics else ""
    return Risk(
        level=RiskLevel.DANGER,
        code="pipeline-removed",
        message=f"pipeline `{pipeline}` is removed: on merge its {len(base)} components are destroyed{detail}",
    )


def _removed_topics(base: dict[str, TopicSpec], head: dict[str, TopicSpec]) -> tuple[list[Risk], dict[str, str]]:
    """Risks for topics gone at head, and the renames found (old name → new name)."""
    risks: list[Risk] = []
    renamed: dict[str, str] = {}
    added = [head[name] for name in head if name not in base]
    for name in sorted(base.keys() - head.keys()):
        old = base[name]
        successor = next(
            (
                t
                for t in added
                if t.component == old.component and t.role == old.role and t.name not in renamed.values()
            ),
            None,
        )
        if successor is not None:
            renamed[name] = successor.name
            message = (
                f"topic `{name}` of `{old.component}` is replaced by `{successor.name}`: the new topic starts empty, "
                f"consumers of `{name}` get no new data and its data is lost once the old topic is deleted"
            )
            risk = _risk(
                RiskLevel.DANGER, "topic-renamed", message, old.component, name, ("to", "topics", successor.name)
            )
            risks.append(risk)
        else:
            message = f"topic `{name}` is no longer declared: its data is lost when the topic is deleted"
            risks.append(_risk(RiskLevel.DANGER, "topic-removed", message, old.component, name, ("to", "topics")))
    return risks, renamed


def _topic_changes(old: TopicSpec, new: TopicSpec) -> list[Risk]:
    risks: list[Risk] = []

    def add(level: RiskLevel, code: str, message: str, *key: str) -> None:
        path = ("to", "topics", new.name, *key)
        risks.append(_risk(level, code, f"topic `{new.name}`: {message}", new.component, new.name, path))

    if old.partitions is not None and new.partitions is not None:
        if new.partitions < old.partitions:
            add(
                RiskLevel.DANGER,
                "partitions-decreased",
                f"partitions {old.partitions} → {new.partitions}: Kafka cannot decrease a topic's partitions; "
                "the change fails unless the topic is deleted and recreated (losing its data)",
                "partitions_count",
            )
        elif new.partitions > old.partitions:
            add(
                RiskLevel.NOTICE,
                "partitions-increased",
                f"partitions {old.partitions} → {new.partitions}: keys map to other partitions, so the order of "
                "records with the same key is not kept across the change",
                "partitions_count",
            )
    if old.replication != new.replication:
        add(
            RiskLevel.WARNING,
            "replication-factor-changed",
            f"replication factor {_show(old.replication)} → {_show(new.replication)}: needs a partition "
            "reassignment; Strimzi's topic operator applies it only with Cruise Control, and kpops refuses it in "
            "managed mode (as it refuses a partition-count change)",
            "replication_factor",
        )
    old_policy = old.configs.get("cleanup.policy", "delete")
    new_policy = new.configs.get("cleanup.policy", "delete")
    if old_policy != new_policy:
        add(
            RiskLevel.WARNING,
            "cleanup-policy-changed",
            f"cleanup.policy {old_policy} → {new_policy}: changes which records the broker deletes",
            "configs",
            "cleanup.policy",
        )
    for key in _RETENTION_KEYS:
        if _shortened(old.configs.get(key), new.configs.get(key)):
            add(
                RiskLevel.WARNING,
                "retention-shortened",
                f"{key} {old.configs.get(key, 'default')} → {new.configs.get(key)}: "
                "records older than the new limit are deleted",
                "configs",
                key,
            )
    return risks


def _shortened(old: str | None, new: str | None) -> bool:
    try:
        new_value = int(new) if new is not None else None
        old_value = int(old) if old is not None else None
    except ValueError:
        return False
    if new_value is None or new_value == _INFINITE:
        return False
    return old_value == _INFINITE or (old_value is not None and new_value < old_value)


def _component_changes(old: dict[str, Any], new: dict[str, Any], renamed: dict[str, str]) -> list[Risk]:
    name = str(new.get("name"))
    risks: list[Risk] = []
    old_group, new_group = consumer_group(old), consumer_group(new)
    if old_group != new_group and (old_group or new_group):
        subject = "consumer group" if new.get("type") in CONNECTOR_TYPES else "application id / consumer group"
        message = (
            f"`{name}`: {subject} {_show(old_group)} → {_show(new_group)}: it starts without committed offsets "
            "and state, so it reprocesses its input from the configured offset reset"
        )
        risks.append(_risk(RiskLevel.WARNING, "consumer-group-changed", message, name, path=("values",)))
    old_output, new_output = main_output_topic(old), main_output_topic(new)
    if old_output and new_output and old_output != new_output and renamed.get(old_output) != new_output:
        message = (
            f"`{name}` writes to `{new_output}` instead of `{old_output}`: consumers of `{old_output}` "
            "stop receiving new records"
        )
        path: tuple[Segment, ...] = ("values", "kafka", "outputTopic")
        risks.append(_risk(RiskLevel.WARNING, "output-topic-replaced", message, name, old_output, path))
    if new.get("type") in CONNECTOR_TYPES:
        old_class = (old.get("config") or {}).get("connector.class")
        new_class = (new.get("config") or {}).get("connector.class")
        if old_class != new_class:
            message = (
                f"`{name}`: connector.class {_show(old_class)} → {_show(new_class)}: a different connector "
                "takes over this connector's name and offsets"
            )
            path = ("config", "connector.class")
            risks.append(_risk(RiskLevel.WARNING, "connector-class-changed", message, name, path=path))
    return risks


def _risk(
    level: RiskLevel,
    code: str,
    message: str,
    component: str | None,
    topic: str | None = None,
    path: tuple[Segment, ...] = (),
) -> Risk:
    risk = Risk(
        level=level, code=code, message=message, component=component, topic=topic, field=format_path(path) or None
    )
    risk._path = path
    return risk


def _show(value: object) -> str:
    return "the default" if value is None else f"`{value}`"
