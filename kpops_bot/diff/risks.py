"""Kafka and Kubernetes risk checks: what a manifest diff cannot tell a reviewer.

Each check compares a pipeline's components at base and at head (None on a side means the pipeline does not exist
there: added or removed), or looks at the head alone: substitutions kpops left literal, manifests the API server
would refuse, components switched off with `enabled: false`. Every risk is mapped to the line of the pipeline or
defaults file behind it (`sources`).

A risk says what the merge does in the repository's operation mode, since the same change fares differently: in
managed mode kpops' topic handler (`kpops/component_handlers/topic/handler.py`, alike in 8.1.4 and 12.0.3) fails the
dry run on a changed partition count or replication factor (`TopicTransactionError`) and `deploy --execute` only
alters the topic's configs, so the change silently never happens; in manifest and argo mode Strimzi's topic operator
applies more partitions, refuses fewer and changes replicas only with Cruise Control. No mode removes a connector
deleted from a pipeline: managed deploy acts on the components in the pipeline, and the GitOps modes render no
connector.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpops_bot.connectors import CONNECTOR_TYPES
from kpops_bot.diff.kafka import (
    TopicSpec,
    consumer_group,
    declared_topics,
    main_output_topic,
)
from kpops_bot.diff.manifest_schemas import DEFAULT_KUBERNETES_VERSION, ManifestChecks
from kpops_bot.diff.model import Risk, RiskLevel
from kpops_bot.diff.paths import format_path
from kpops_bot.model.kinds import OperationMode
from kpops_bot.model.render import ComponentRender
from kpops_bot.sources import PipelineSources, Segment

# Risks about what the head no longer defines: no line of its files is behind them.
_NOT_AT_HEAD = frozenset({"pipeline-removed", "connector-removed"})
_INFINITE = -1
# Kafka's documented topic defaults (broker `log.retention.hours` 168, `log.retention.bytes` -1): what a topic
# keeps when its configs leave the key out; kpops sets no retention of its own.
_RETENTION_DEFAULTS = {"retention.ms": 604_800_000, "retention.bytes": _INFINITE}
_DEFAULT_NAMES = {
    "retention.ms": "Kafka's default 604800000 (7 days)",
    "retention.bytes": "Kafka's default -1 (no limit)",
}
# kpops leaves `${NAME}` as it is when nothing defines NAME; `${provider:path:key}` is Kafka Connect's own syntax.
_LITERAL_VARIABLE = re.compile(r"\$\{(?P<name>[^}:]+)\}")


@dataclass(frozen=True)
class RiskContext:
    """What the head-only checks need besides the renders: the repository's files and Kubernetes' version."""

    sources: PipelineSources = field(default_factory=PipelineSources)
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    # Violations found when the renders were made (stored with them in the render cache), by manifest content.
    checks: ManifestChecks | None = None
    operation_mode: OperationMode = OperationMode.MANIFEST  # who applies the merge: kpops, or a GitOps controller
    connector_resources: bool = False  # `connectors: strimzi`: the GitOps folder holds connectors and prunes them
    # The manifest as the report may show it: a violation's value is left out where masking changes it.
    mask_resource: Callable[[dict[str, Any]], Any] = lambda resource: resource


def assess(
    pipeline: str,
    base: Sequence[ComponentRender] | None,
    head: Sequence[ComponentRender] | None,
    context: RiskContext | None = None,
) -> list[Risk]:
    context = context or RiskContext()
    risks = _compared(pipeline, base, head, context.operation_mode)
    if head is not None:
        standing = [*_unset_variables(head), *_invalid_manifests(head, context)]
        _mark_at_base(standing, base, context)
        risks += standing
    risks += _gone(pipeline, base or [], head, context)
    types = {component.name: component.type for component in [*(base or []), *(head or [])]}
    for risk in risks:
        if risk.source is None and risk.code not in _NOT_AT_HEAD:
            path = risk._path
            risk.source = context.sources.locate(risk.component, types.get(risk.component or ""), path, risk.value)
    order = {level: -level.rank for level in RiskLevel}
    return sorted(risks, key=lambda risk: (order[risk.level], risk.topic or "", risk.component or "", risk.code))


def _compared(
    pipeline: str, base: Sequence[ComponentRender] | None, head: Sequence[ComponentRender] | None, mode: OperationMode
) -> list[Risk]:
    if base is None:
        return []
    if head is None:
        return [_pipeline_removed(pipeline, base)]
    base_topics, head_topics = _topics(base), _topics(head)
    risks, renamed = _removed_topics(base_topics, head_topics)
    for name in base_topics.keys() & head_topics.keys():
        risks += _topic_changes(base_topics[name], head_topics[name], mode)
    head_by_name = {component.name: component for component in head}
    for old in base:
        new = head_by_name.get(old.name)
        if new is not None:
            risks += _component_changes(old.config, new.config, renamed)
    return risks


def _mark_at_base(standing: Sequence[Risk], base: Sequence[ComponentRender] | None, context: RiskContext) -> None:
    """Marks the head's findings that the merge base has as well (a `${NAMESPACE}` nobody sets, a manifest the API
    server refuses): reported apart, never blocking, so a pull request answers only for what it introduces."""
    if not standing or base is None:
        return
    found_at_base = {_identity(risk) for risk in [*_unset_variables(base), *_invalid_manifests(base, context)]}
    for risk in standing:
        risk.at_base = _identity(risk) in found_at_base


def _identity(risk: Risk) -> tuple[str, str | None, str | None, str]:
    return risk.code, risk.component, risk.field, risk.message


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
    checks = context.checks if context.checks is not None else ManifestChecks(version)
    risks: list[Risk] = []
    for component in head:
        for manifest in component.manifests:
            found = checks.violations(manifest)
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


def _gone(
    pipeline: str, base: Sequence[ComponentRender], head: Sequence[ComponentRender] | None, context: RiskContext
) -> list[Risk]:
    """Components of the base that the head drops: switched off with `enabled: false` (kpops ≥ 10.7), or connectors
    deleted. `head` None: the pipeline is removed, which managed mode destroys but the GitOps modes do not for
    connectors (they render none) unless the bot commits them as KafkaConnector resources, which the folder prunes."""
    mode = context.operation_mode
    pruned = mode is not OperationMode.MANAGED and context.connector_resources
    if head is None:
        if mode is OperationMode.MANAGED or pruned:
            return []
        return [_connector_left(pipeline, c, mode, "with its pipeline") for c in _connectors(base)]
    rendered = {component.name for component in head}
    deployed = {component.name: component for component in base}
    risks: list[Risk] = []
    disabled: set[str] = set()
    for name, _kind, where in context.sources.disabled():
        disabled.add(name)
        if name in rendered:
            continue
        was = deployed.get(name)
        if was is None:
            message = f"`{name}` is disabled (`enabled: false`): it is not rendered and not deployed"
            risk = _risk(RiskLevel.NOTICE, "component-disabled", message, name)
        else:
            message = (
                f"`{name}` is disabled (`enabled: false`): kpops drops it from the output. {_left(pipeline, was, mode)}"
            )
            risk = _risk(RiskLevel.WARNING, "component-disabled", message, name)
        risk.source = where
        risks.append(risk)
    for component in _connectors(base):
        if component.name not in rendered and component.name not in disabled and not pruned:
            risks.append(_connector_left(pipeline, component, mode, "from the pipeline"))
    return risks


def _connectors(components: Sequence[ComponentRender]) -> list[ComponentRender]:
    return [component for component in components if component.type in CONNECTOR_TYPES]


def _connector_left(pipeline: str, component: ComponentRender, mode: OperationMode, how: str) -> Risk:
    message = f"`{component.name}` is removed {how}. {_left(pipeline, component, mode)}"
    return _risk(RiskLevel.WARNING, "connector-removed", message, component.name)


def _left(pipeline: str, component: ComponentRender, mode: OperationMode) -> str:
    """What becomes on merge of a deployed component the head no longer renders, and how to remove it."""
    destroy = f"`/kpops destroy {pipeline} --steps {component.name}`"
    if mode is OperationMode.MANAGED:
        return (
            "In managed mode the merge's `kpops deploy` acts only on the components still in the pipeline, so "
            f"nothing removes it: what is deployed keeps running unmanaged. Destroy it before the merge with {destroy}"
            " (destroy acts on the base branch, where it is still defined)"
        )
    if component.type not in CONNECTOR_TYPES:
        return (
            f"In {mode.value} mode its manifests leave the GitOps folder and a sync with prune deletes them, its "
            "KafkaTopics too"
        )
    name = _mapping(component.config.get("config")).get("name") or component.name
    return (
        f"In {mode.value} mode nothing removes it from Kafka Connect: kpops renders no manifest for a connector, so "
        "the GitOps folder holds nothing of it to prune (unless connectors are managed as KafkaConnector "
        f"resources). Delete connector `{name}` through Kafka Connect's REST API (`DELETE /connectors/{name}`)"
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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


def _topic_changes(old: TopicSpec, new: TopicSpec, mode: OperationMode) -> list[Risk]:
    risks: list[Risk] = []

    def add(level: RiskLevel, code: str, message: str, *key: str) -> None:
        path = ("to", "topics", new.name, *key)
        risks.append(_risk(level, code, f"topic `{new.name}`: {message}", new.component, new.name, path))

    if old.partitions is not None and new.partitions is not None and old.partitions != new.partitions:
        change = f"partitions {old.partitions} → {new.partitions}"
        code = "partitions-decreased" if new.partitions < old.partitions else "partitions-increased"
        if mode is OperationMode.MANAGED:
            add(
                RiskLevel.DANGER,
                code,
                f"{change}: {_kpops_keeps('partition count', old.partitions)}",
                "partitions_count",
            )
        elif new.partitions < old.partitions:
            add(
                RiskLevel.DANGER,
                code,
                f"{change}: Kafka cannot decrease a topic's partitions; the change fails unless the topic is deleted "
                "and recreated (losing its data)",
                "partitions_count",
            )
        else:
            add(
                RiskLevel.NOTICE,
                code,
                f"{change}: keys map to other partitions, so the order of records with the same key is not kept "
                "across the change",
                "partitions_count",
            )
    if old.replication != new.replication:
        change = f"replication factor {_show(old.replication)} → {_show(new.replication)}"
        if mode is OperationMode.MANAGED:
            keeps = _kpops_keeps("replication factor", old.replication)
            add(RiskLevel.DANGER, "replication-factor-changed", f"{change}: {keeps}", "replication_factor")
        else:
            add(
                RiskLevel.WARNING,
                "replication-factor-changed",
                f"{change}: needs a partition reassignment, which Strimzi's topic operator applies only with "
                "Cruise Control",
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
    for key, default in _RETENTION_DEFAULTS.items():
        if _shortened(old.configs.get(key), new.configs.get(key), default):
            add(
                RiskLevel.WARNING,
                "retention-shortened",
                f"{key} {old.configs.get(key, _DEFAULT_NAMES[key])} → {new.configs.get(key, _DEFAULT_NAMES[key])}: "
                "records older than the new limit are deleted",
                "configs",
                key,
            )
    return risks


def _kpops_keeps(what: str, old: int | None) -> str:
    """What kpops' topic handler (8.1.4 to 12) does with an existing topic whose partition count or replication factor
    changes: `__check_partition_count` / `__check_replication_factor` raise in the dry run, and the executed
    deploy only alters configs (`__execute_topic_creation`)."""
    kept = "the broker's default" if old is None else str(old)
    return (
        f"in managed mode kpops does not change an existing topic's {what}: its dry run fails (`{what} of topic "
        f"... changed!`) and the merge's `deploy --execute` leaves its {what} at {kept}"
    )


def _shortened(old: str | None, new: str | None, default: int) -> bool:
    """Whether `new` keeps less than `old`; a key left out on either side is Kafka's default."""
    try:
        new_value = int(new) if new is not None else default
        old_value = int(old) if old is not None else default
    except ValueError:
        return False
    return new_value != _INFINITE and (old_value == _INFINITE or new_value < old_value)


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
