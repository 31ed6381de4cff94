"""Manifests the API server would refuse, against kubernetes-validate's schemas and the Strimzi CRD shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kpops_bot.diff.compute import DiffOptions, diff_pipeline
from kpops_bot.diff.manifest_schemas import supported, violations
from kpops_bot.diff.settings import DiffSettings
from kpops_bot.engine.model import PipelineRender
from tests.helpers import manifest, recorded_render


def deployment(**spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
    base = {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": template}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": base | spec}


def topic(name: str = "orders", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": "kafka"}},
        "spec": {"partitions": 3, "replicas": 3, "config": {}} | spec,
    }


def test_a_valid_deployment_and_topic_pass() -> None:
    assert violations(deployment()) == []
    assert violations(topic()) == []
    assert violations({"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": {"name": "x"}}) == []


def test_kubernetes_fields_of_the_wrong_type_are_named() -> None:
    [found] = violations(deployment(replicas="three"))
    assert (found.kind, found.name, found.field, found.value) == ("Deployment", "x", "spec.replicas", "three")
    assert found.describe().startswith("Deployment `x`: spec.replicas: 'three' is not of type 'integer'")


def test_strimzi_shapes_and_kubernetes_names() -> None:
    fields = {v.field for v in violations(topic("Orders_V2", partitions=0, replicas="3"))}
    assert fields == {"metadata.name", "spec.partitions", "spec.replicas"}
    connector = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaConnector",
        "metadata": {"name": "sink"},
        "spec": {"class": "io.example.Sink", "tasksMax": "2", "state": "sleeping"},
    }
    assert {v.field for v in violations(connector)} == {"spec.tasksMax", "spec.state"}


def test_the_kubernetes_version_is_a_setting_checked_on_load() -> None:
    assert supported("1.31") and supported("v1.29.3")
    assert not supported("1.20")
    with pytest.raises(ValueError, match="no Kubernetes schemas"):
        DiffSettings(kubernetes_version="1.2")


def test_an_invalid_secret_value_is_named_by_its_rule_not_its_value() -> None:
    base = recorded_render()
    head = PipelineRender.model_validate(copy.deepcopy(base.model_dump()) | {"revision": "head"})
    container = manifest(head, "Deployment", "word-count-word-counter")["spec"]["template"]["spec"]["containers"][0]
    container.setdefault("env", []).append({"name": "DB_PASSWORD", "value": 987654321})
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    [risk] = [r for r in diff.risks if r.code == "manifest-invalid"]
    assert "987654321" not in risk.model_dump_json()
    assert risk.field is not None and risk.field.endswith(".value")
    assert "a masked value fails type" in risk.message
