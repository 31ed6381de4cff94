"""Kafka risk checks on recorded word-count renders, one edit per check."""

from __future__ import annotations

import copy
from typing import Any

from kpops_bot.diff.model import RiskLevel
from kpops_bot.diff.risks import RiskContext, assess
from kpops_bot.model.kinds import OperationMode
from kpops_bot.model.render import PipelineRender
from tests.support.renders import component, recorded_render

OUTPUT = "word-count-word-counter-topic"


def head_with(edit: Any) -> tuple[PipelineRender, PipelineRender]:
    base = recorded_render()
    head = PipelineRender.model_validate(copy.deepcopy(base.model_dump()))
    edit(head)
    return base, head


def codes(
    base: PipelineRender, head: PipelineRender | None, mode: OperationMode = OperationMode.MANIFEST
) -> dict[str, RiskLevel]:
    context = RiskContext(operation_mode=mode)
    found = assess("word-count", base.components, head.components if head else None, context)
    return {risk.code: risk.level for risk in found}


def output_topic(render: PipelineRender) -> dict[str, Any]:
    topics: dict[str, Any] = component(render, "word-counter").config["to"]["topics"]
    return topics[OUTPUT]


def test_no_change_no_risk() -> None:
    base, head = head_with(lambda head: None)
    assert codes(base, head) == {}


def test_partition_decrease_is_dangerous_and_increase_a_notice() -> None:
    base, head = head_with(lambda head: output_topic(head).update(partitions_count=1))
    found = assess("word-count", base.components, head.components)
    assert [(r.code, r.level, r.topic, r.component) for r in found] == [
        ("partitions-decreased", RiskLevel.DANGER, OUTPUT, "word-counter")
    ]
    assert "3 → 1" in found[0].message
    base, head = head_with(lambda head: output_topic(head).update(partitions_count=6))
    assert codes(base, head) == {"partitions-increased": RiskLevel.NOTICE}
    assert codes(base, head, OperationMode.ARGO) == {"partitions-increased": RiskLevel.NOTICE}


def test_replication_factor_change_is_a_warning_under_strimzi() -> None:
    base, head = head_with(lambda head: output_topic(head).update(replication_factor=3))
    assert codes(base, head) == {"replication-factor-changed": RiskLevel.WARNING}
    [risk] = assess("word-count", base.components, head.components)
    assert "Cruise Control" in risk.message
    assert "managed" not in risk.message


def test_in_managed_mode_any_partition_or_replication_change_is_dangerous() -> None:
    """kpops' topic handler fails the dry run and leaves the topic as it is on `--execute`, both ways."""
    managed = RiskContext(operation_mode=OperationMode.MANAGED)
    for edit, code, kept in [
        ({"partitions_count": 6}, "partitions-increased", "leaves its partition count at 3"),
        ({"partitions_count": 1}, "partitions-decreased", "leaves its partition count at 3"),
        ({"replication_factor": 3}, "replication-factor-changed", "leaves its replication factor at 1"),
    ]:
        base, head = head_with(lambda head, edit=edit: output_topic(head).update(edit))  # type: ignore[misc]
        [risk] = assess("word-count", base.components, head.components, managed)
        assert (risk.code, risk.level) == (code, RiskLevel.DANGER)
        assert kept in risk.message
        assert "its dry run fails" in risk.message


def test_cleanup_policy_change_is_a_warning() -> None:
    base, head = head_with(lambda head: output_topic(head)["configs"].update({"cleanup.policy": "delete"}))
    assert codes(base, head) == {"cleanup-policy-changed": RiskLevel.WARNING}


def test_shorter_retention_is_a_warning_longer_is_not() -> None:
    error_topic = "word-count-word-counter-error"

    def retention(value: str) -> Any:
        return lambda head: (
            component(head, "word-counter")
            .config["to"]["topics"][error_topic]["configs"]
            .update({"retention.ms": value})
        )

    base, head = head_with(retention("86400000"))
    assert codes(base, head) == {"retention-shortened": RiskLevel.WARNING}
    base, head = head_with(retention("-1"))
    assert codes(base, head) == {}
    base, head = head_with(retention("999999999999"))
    assert codes(base, head) == {}


def test_a_retention_below_kafkas_default_where_none_was_set_is_a_warning() -> None:
    """The output topic sets no retention: it keeps Kafka's default, 7 days (604800000 ms) and no size limit."""

    def retention(**configs: str) -> Any:
        return lambda head: output_topic(head)["configs"].update(configs)

    base, head = head_with(retention(**{"retention.ms": "86400000"}))
    found = assess("word-count", base.components, head.components)
    assert [(r.code, r.level, r.field) for r in found] == [
        ("retention-shortened", RiskLevel.WARNING, f'to.topics.{OUTPUT}.configs["retention.ms"]')
    ]
    assert "retention.ms Kafka's default 604800000 (7 days) → 86400000" in found[0].message
    base, head = head_with(retention(**{"retention.bytes": "1073741824"}))
    assert codes(base, head) == {"retention-shortened": RiskLevel.WARNING}
    base, head = head_with(retention(**{"retention.ms": "604800000"}))
    assert codes(base, head) == {}
    base, head = head_with(retention(**{"retention.ms": "2592000000"}))
    assert codes(base, head) == {}


def test_a_retention_dropped_back_to_a_shorter_default_is_a_warning() -> None:
    def drop(head: PipelineRender) -> None:
        del component(head, "word-counter").config["to"]["topics"]["word-count-word-counter-error"]["configs"][
            "retention.ms"
        ]

    base = recorded_render()
    component(base, "word-counter").config["to"]["topics"]["word-count-word-counter-error"]["configs"][
        "retention.ms"
    ] = "2592000000"
    head = PipelineRender.model_validate(copy.deepcopy(base.model_dump()))
    drop(head)
    assert codes(base, head) == {"retention-shortened": RiskLevel.WARNING}


def test_renamed_output_topic_is_dangerous_and_not_reported_twice() -> None:
    def rename(head: PipelineRender) -> None:
        config = component(head, "word-counter").config
        topics = config["to"]["topics"]
        topics["word-count-counts-v2"] = topics.pop(OUTPUT)
        config["values"]["kafka"]["outputTopic"] = "word-count-counts-v2"

    base, head = head_with(rename)
    found = assess("word-count", base.components, head.components)
    assert [(r.code, r.topic) for r in found] == [("topic-renamed", OUTPUT)]
    assert "word-count-counts-v2" in found[0].message


def test_removed_topic_is_dangerous() -> None:
    base, head = head_with(
        lambda head: component(head, "word-counter").config["to"]["topics"].pop("word-count-word-counter-error")
    )
    assert codes(base, head) == {"topic-removed": RiskLevel.DANGER}


def test_output_topic_switched_to_another_existing_topic_is_a_warning() -> None:
    def switch(head: PipelineRender) -> None:
        component(head, "word-counter").config["values"]["kafka"]["outputTopic"] = "shared-topic"

    base, head = head_with(switch)
    assert codes(base, head) == {"output-topic-replaced": RiskLevel.WARNING}


def test_application_id_and_connector_consumer_group_changes_are_warnings() -> None:
    def app_id(head: PipelineRender) -> None:
        component(head, "word-counter").config["values"]["kafka"]["applicationId"] = "word-count-v2"

    base, head = head_with(app_id)
    assert codes(base, head) == {"consumer-group-changed": RiskLevel.WARNING}

    def connector_name(head: PipelineRender) -> None:
        component(head, "redis-sink-connector").config["config"]["name"] = "word-count-redis-v2"

    base, head = head_with(connector_name)
    found = assess("word-count", base.components, head.components)
    assert [r.code for r in found] == ["consumer-group-changed"]
    assert "connect-word-count-redis-v2" in found[0].message


def test_connector_class_change_is_a_warning() -> None:
    def swap(head: PipelineRender) -> None:
        component(head, "redis-sink-connector").config["config"]["connector.class"] = "com.example.OtherSink"

    base, head = head_with(swap)
    assert codes(base, head) == {"connector-class-changed": RiskLevel.WARNING}


def test_removed_pipeline_is_dangerous_and_added_pipeline_is_not() -> None:
    base = recorded_render()
    managed = RiskContext(operation_mode=OperationMode.MANAGED)
    found = assess("word-count", base.components, None, managed)
    assert [(r.code, r.level) for r in found] == [("pipeline-removed", RiskLevel.DANGER)]
    assert OUTPUT in found[0].message
    assert assess("word-count", None, base.components) == []


def test_a_removed_pipeline_leaves_its_connectors_in_the_gitops_modes() -> None:
    """Managed mode destroys a removed pipeline at the commit before; the GitOps modes render no connector."""
    found = assess("word-count", recorded_render().components, None)
    assert [(r.code, r.level, r.component) for r in found] == [
        ("pipeline-removed", RiskLevel.DANGER, None),
        ("connector-removed", RiskLevel.WARNING, "redis-sink-connector"),
    ]
    assert "DELETE /connectors/word-count-redis-sink-connector" in found[1].message


def drop_connector(head: PipelineRender) -> None:
    head.components = [c for c in head.components if c.name != "redis-sink-connector"]


def test_a_deleted_connector_is_a_warning_that_says_how_to_remove_it() -> None:
    base, head = head_with(drop_connector)
    managed = RiskContext(operation_mode=OperationMode.MANAGED)
    [risk] = assess("word-count", base.components, head.components, managed)
    assert (risk.code, risk.level, risk.component) == ("connector-removed", RiskLevel.WARNING, "redis-sink-connector")
    assert "nothing removes it" in risk.message
    assert "`/kpops destroy word-count --steps redis-sink-connector`" in risk.message
    for mode in (OperationMode.MANIFEST, OperationMode.ARGO):
        [risk] = assess("word-count", base.components, head.components, RiskContext(operation_mode=mode))
        assert risk.code == "connector-removed"
        assert f"In {mode.value} mode nothing removes it from Kafka Connect" in risk.message
        assert "unless connectors are managed as KafkaConnector resources" in risk.message
        assert "/kpops destroy" not in risk.message  # a GitOps destroy removes the folder, never a connector


def test_a_removed_app_is_no_connector_risk() -> None:
    """An app's manifests leave the folder (GitOps modes prune them); its topic's removal is the risk."""
    base, head = head_with(lambda head: setattr(head, "components", head.components[1:]))
    assert codes(base, head) == {"topic-removed": RiskLevel.DANGER}


def test_most_severe_risks_come_first() -> None:
    def several(head: PipelineRender) -> None:
        output_topic(head).update(replication_factor=3, partitions_count=1)

    base, head = head_with(several)
    assert [r.level for r in assess("word-count", base.components, head.components)] == [
        RiskLevel.DANGER,
        RiskLevel.WARNING,
    ]
