"""Manifests the API server would refuse, against kubernetes-validate's schemas and the Strimzi CRD shape."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import referencing

from kpops_bot.diff import manifest_schemas
from kpops_bot.diff.compute import DiffOptions, diff_pipeline
from kpops_bot.diff.manifest_schemas import strimzi_crd, supported, violations
from kpops_bot.diff.settings import DiffSettings
from kpops_bot.model.render import PipelineRender
from tests.support.renders import manifest, recorded_render


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


def test_strimzi_resources_are_checked_against_the_operators_own_crds() -> None:
    for kind in ("KafkaTopic", "KafkaConnector"):
        crd = strimzi_crd(kind)
        assert (crd["origin"], crd["release"], crd["group"]) == (
            "https://github.com/strimzi/strimzi-kafka-operator",
            "0.51.0",
            "kafka.strimzi.io",
        )
        assert crd["file"].startswith("packaging/install/cluster-operator/") and len(crd["commit"]) == 40
        assert {"v1beta2", "v1"} <= set(crd["versions"])
    connector = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaConnector",
        "metadata": {"name": "sink", "labels": {"strimzi.io/cluster": "connect"}},
        "spec": {"class": "io.example.Sink", "tasksMax": 1, "config": {"topics": "t"}, "listOffsets": {}},
    }
    # Only the CRD knows that listing offsets needs the ConfigMap to write them to.
    [found] = violations(connector)
    assert (found.field, found.message) == ("spec.listOffsets", "'toConfigMap' is a required property")
    listed = connector | {"spec": connector["spec"] | {"listOffsets": {"toConfigMap": {"name": "offsets"}}}}
    assert violations(listed) == []
    # A null is pruned as the API server prunes it; a version the release does not serve is refused.
    assert violations(topic(config=None)) == []
    [unserved] = violations(listed | {"apiVersion": "kafka.strimzi.io/v1alpha1"})
    assert unserved.field == "apiVersion"
    for render_manifest in (m for c in recorded_render().components for m in c.manifests):
        assert violations(render_manifest) == []


def _errors_through_refs(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """kubernetes-validate's schema as shipped, each `$ref` resolved while validating."""
    folder = manifest_schemas._schema_folder(manifest_schemas.DEFAULT_KUBERNETES_VERSION)
    schema = manifest_schemas._load(f"{folder}/deployment-apps-v1.json")
    definitions = referencing.Resource.from_contents(manifest_schemas._load(f"{folder}/_definitions.json"))
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ referencing.Registry()
    validator = jsonschema.Draft202012Validator(schema, registry=definitions @ registry)
    return [(str(list(e.absolute_path)), e.message, str(e.validator)) for e in validator.iter_errors(document)]


def test_definitions_put_in_place_report_what_resolving_each_ref_reports() -> None:
    volume = {"name": "v", "configMap": {"name": 3, "items": [{"key": "k"}]}}
    broken = [
        deployment(replicas="three"),
        deployment(template={"spec": {"containers": [{"image": 5, "ports": [{"containerPort": "x"}]}]}}),
        deployment(template={"spec": {"containers": [], "volumes": [volume], "affinity": {"nodeAffinity": 1}}}),
        deployment(selector={"matchExpressions": [{"key": "a", "operator": 1, "values": "b"}]}, strategy=[]),
    ]
    validator = manifest_schemas._validator("Deployment", "apps/v1", manifest_schemas.DEFAULT_KUBERNETES_VERSION)
    assert validator is not None and "$ref" not in json.dumps(validator.schema)
    for document in broken:
        errors = [(str(list(e.absolute_path)), e.message, str(e.validator)) for e in validator.iter_errors(document)]
        assert errors == _errors_through_refs(document) != []


def test_checks_stored_with_a_render_give_the_violations_validating_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """`checked` (made when a render is stored in the cache) read back by `ManifestChecks`: the same violations,
    without validating again; a manifest it does not know (other content) is validated then."""
    invalid = deployment(replicas="three")
    manifests = [invalid, deployment(), topic(partitions=-1)]
    stored = json.loads(json.dumps(manifest_schemas.checked(manifests, "1.31")))  # as the cache keeps it
    checks = manifest_schemas.ManifestChecks.of("1.31", [stored])
    expected = [violations(each, "1.31") for each in manifests]
    assert expected[0] and expected[2], "the example has something to find"

    def validated(*_: Any) -> None:
        raise AssertionError("validated again")

    monkeypatch.setattr(manifest_schemas, "_validator", validated)
    assert [checks.violations(copy.deepcopy(each)) for each in manifests] == expected
    with pytest.raises(AssertionError, match="validated again"):
        checks.violations(deployment(replicas=2))


def test_checks_are_named_for_what_they_depend_on() -> None:
    assert manifest_schemas.checks_name("1.31") != manifest_schemas.checks_name("1.30")
    assert manifest_schemas.STRIMZI_RELEASE in manifest_schemas.checks_name("1.31")


def test_the_schema_versions_are_kubernetes_validates() -> None:
    from kubernetes_validate import utils

    assert manifest_schemas._schema_versions() == utils.all_versions()


def test_a_manifest_holding_nan_is_checked_too() -> None:
    odd = deployment(replicas=float("nan"))
    checks = manifest_schemas.ManifestChecks.of("1.31", [manifest_schemas.checked([deployment()], "1.31")])
    assert checks.violations(odd) == violations(odd, "1.31")


def test_stored_checks_that_no_longer_read_are_made_again() -> None:
    """A stored violation with a field `Violation` no longer has (stored by another build of the same version) is
    not trusted: that manifest is validated again, the others' checks still read."""
    invalid = deployment(replicas="three")
    stored = json.loads(json.dumps(manifest_schemas.checked([invalid, topic(partitions=-1)], "1.31")))
    digest = manifest_schemas.manifest_digest(invalid)
    stored[digest] = [found | {"renamed": True} for found in stored[digest]]
    checks = manifest_schemas.ManifestChecks.of("1.31", [stored])
    assert digest not in checks.known and len(checks.known) == 1
    assert checks.violations(invalid) == violations(invalid, "1.31") != []
