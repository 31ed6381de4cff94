"""The pure diff: recorded word-count renders, edited the way a pull request would change them."""

from __future__ import annotations

import copy

from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.model import ComponentDiff, RiskLevel, Status
from kpops_bot.diff.paths import FieldFilter
from kpops_bot.masking import MASK, Masker
from kpops_bot.model.render import PipelineRender, RenderError
from tests.support.renders import component, manifest, recorded_render


def edited(render: PipelineRender) -> PipelineRender:
    return PipelineRender.model_validate(copy.deepcopy(render.model_dump()) | {"revision": "head"})


def changes_of(diff_components: list[ComponentDiff], name: str) -> dict[str, tuple[object, object]]:
    found = next(c for c in diff_components if c.name == name)
    return {change.path: (change.old, change.new) for change in found.config_changes}


def test_identical_renders_are_unchanged_with_every_resource_listed() -> None:
    base = recorded_render()
    diff = diff_pipeline("word-count", None, base, edited(base), DiffOptions())
    assert diff.status is Status.UNCHANGED
    assert [c.status for c in diff.components] == [Status.UNCHANGED] * 3
    assert sum(len(c.resources) for c in diff.components) == 5
    assert diff.topology is None


def test_replicas_change_is_a_config_change_and_a_deployment_diff() -> None:
    base = recorded_render()
    head = edited(base)
    component(head, "word-counter").config["values"]["replicaCount"] = 3
    manifest(head, "Deployment", "word-count-word-counter")["spec"]["replicas"] = 3
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert diff.status is Status.CHANGED
    assert changes_of(diff.components, "word-counter") == {"values.replicaCount": (2, 3)}
    deployment = next(r for c in diff.components for r in c.resources if r.kind == "Deployment")
    assert deployment.status is Status.CHANGED
    assert "-  replicas: 2\n+  replicas: 3" in deployment.diff
    assert deployment.diff.startswith("@@")
    others = [r for c in diff.components for r in c.resources if r.kind != "Deployment"]
    assert {r.status for r in others} == {Status.UNCHANGED}


def test_resources_are_matched_by_identity_not_position() -> None:
    base = recorded_render()
    head = edited(base)
    component(head, "word-counter").manifests.reverse()
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert diff.status is Status.UNCHANGED


def test_an_api_version_bump_is_a_change_of_the_same_resource() -> None:
    base = recorded_render()
    head = edited(base)
    manifest(head, "KafkaTopic", "word-count-word-counter-error")["apiVersion"] = "kafka.strimzi.io/v1"
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    topics = [r for c in diff.components for r in c.resources if r.name == "word-count-word-counter-error"]
    assert len(topics) == 1
    assert topics[0].status is Status.CHANGED
    assert topics[0].api_version == "kafka.strimzi.io/v1"
    assert "+apiVersion: kafka.strimzi.io/v1" in topics[0].diff


def test_renamed_resource_is_removed_and_added() -> None:
    base = recorded_render()
    head = edited(base)
    manifest(head, "Job", "word-count-data-producer")["metadata"]["name"] = "word-count-producer"
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    jobs = {r.name: r.status for c in diff.components for r in c.resources if r.kind == "Job"}
    assert jobs == {"word-count-producer": Status.ADDED, "word-count-data-producer": Status.REMOVED}
    added = next(r for c in diff.components for r in c.resources if r.name == "word-count-producer")
    assert all(line.startswith(("+", "@@")) for line in added.diff.splitlines())


def test_chart_version_labels_are_noise_by_default_and_configurable() -> None:
    base = recorded_render()
    head = edited(base)
    manifest(head, "Deployment", "word-count-word-counter")["metadata"]["labels"]["helm.sh/chart"] = "streams-app-9"
    assert diff_pipeline("word-count", None, base, head, DiffOptions()).status is Status.UNCHANGED
    strict = DiffOptions(ignored=FieldFilter([]))
    assert diff_pipeline("word-count", None, base, head, strict).status is Status.CHANGED


def test_connector_password_change_is_shown_as_changed_and_never_in_clear() -> None:
    base = recorded_render()
    head = edited(base)
    connector = component(head, "redis-sink-connector").config["config"]
    connector["connection.password"] = "brand-new-password"
    connector["tasks.max"] = "2"
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert changes_of(diff.components, "redis-sink-connector") == {
        'config["connection.password"]': (MASK, "*** (changed)"),
        'config["tasks.max"]': ("1", "2"),
    }
    text = diff.model_dump_json()
    assert "brand-new-password" not in text
    assert "changeme-in-vault" not in text


def test_values_the_bot_holds_are_masked_in_resources_and_errors() -> None:
    base = recorded_render()
    head = edited(base)
    env = manifest(head, "Job", "word-count-data-producer")["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "KAFKA_JAAS", "value": "user=app pass=held-secret-value"})
    options = DiffOptions(masker=Masker.create(known_secrets=["held-secret-value"]))
    diff = diff_pipeline("word-count", None, base, head, options)
    assert "held-secret-value" not in diff.model_dump_json()
    job = next(r for c in diff.components for r in c.resources if r.kind == "Job")
    assert job.diff.splitlines()[-2:] == ["+        - name: KAFKA_JAAS", "+          value: user=app pass=***"]
    failed = edited(base).model_copy(
        update={"error": RenderError(message="helm: cannot reach https://u:held-secret-value@h", kind="helm")}
    )
    error = diff_pipeline("word-count", None, base, failed, options).error
    assert error is not None
    assert error.message == "helm: cannot reach https://u:***@h"


def test_added_and_removed_pipelines() -> None:
    render = recorded_render()
    added = diff_pipeline("word-count", "dev", None, render, DiffOptions())
    assert added.status is Status.ADDED
    assert {c.status for c in added.components} == {Status.ADDED}
    assert all(c.config_changes == [] for c in added.components)
    removed = diff_pipeline("word-count", "dev", render, None, DiffOptions())
    assert removed.status is Status.REMOVED
    assert {r.status for c in removed.components for r in c.resources} == {Status.REMOVED}
    # manifest mode: the folder's removal leaves the connector running (kpops rendered nothing of it), said once.
    assert [(risk.code, risk.component) for risk in removed.risks] == [
        ("pipeline-removed", None),
        ("connector-removed", "redis-sink-connector"),
    ]
    connector = next(c for c in removed.components if c.name == "redis-sink-connector")
    assert connector.applied is False


def test_head_error_makes_an_error_status_with_no_components() -> None:
    base = recorded_render()
    error = RenderError(message="pipelines/word-count/pipeline.yaml:3: invalid YAML", kind="yaml", line=3)
    head = edited(base).model_copy(update={"error": error, "components": []})
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert diff.status is Status.ERROR
    assert diff.error is not None
    assert diff.error.line == 3
    assert diff.components == []


def test_base_error_compares_against_nothing_and_says_so() -> None:
    head = recorded_render(revision="head")
    base = recorded_render().model_copy(update={"error": RenderError(message="boom", kind="kpops"), "components": []})
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert diff.status is Status.CHANGED
    assert {c.status for c in diff.components} == {Status.ADDED}
    assert "did not render at the merge base (boom)" in diff.notes[0]


def test_report_puts_errors_first_and_counts_everything() -> None:
    base = recorded_render()
    head = edited(base)
    component(head, "word-counter").config["to"]["topics"]["word-count-word-counter-topic"]["partitions_count"] = 1
    manifest(head, "KafkaTopic", "word-count-word-counter-topic")["spec"]["partitions"] = 1
    failed = edited(base).model_copy(update={"error": RenderError(message="bad", kind="yaml"), "components": []})
    pipelines = [
        diff_pipeline("word-count", None, base, head, DiffOptions()),
        diff_pipeline("zz-broken", None, base, failed, DiffOptions()),
        diff_pipeline("aa-same", None, base, edited(base), DiffOptions()),
    ]
    report = build_report("b" * 40, "h" * 40, "manifest", [None], pipelines)
    assert [p.name for p in report.pipelines] == ["zz-broken", "aa-same", "word-count"]
    summary = report.summary
    assert summary.pipelines == {Status.ERROR: 1, Status.UNCHANGED: 1, Status.CHANGED: 1}
    assert summary.resources[Status.CHANGED] == 1
    assert summary.risks == {RiskLevel.DANGER: 1}
    assert summary.failed == 1
    assert summary.blocking


def test_blocking_levels_are_configurable() -> None:
    base = recorded_render()
    head = edited(base)
    component(head, "word-counter").config["to"]["topics"]["word-count-word-counter-topic"]["replication_factor"] = 3
    pipeline = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert [risk.level for risk in pipeline.risks] == [RiskLevel.WARNING]
    assert not build_report("b", "h", "manifest", [None], [pipeline]).summary.blocking
    strict = build_report("b", "h", "manifest", [None], [pipeline], [RiskLevel.WARNING, RiskLevel.DANGER])
    assert strict.summary.blocking


def test_a_value_that_only_changes_type_is_still_a_config_change() -> None:
    """Equal under `==` (1 == 1.0 == True) is not unchanged: the shortcut for identical configurations keeps the
    tree diff's types."""
    base = recorded_render()
    for value in (2.0, True):
        head = edited(base)
        component(head, "word-counter").config["values"]["replicaCount"] = value
        diff = diff_pipeline("word-count", None, base, head, DiffOptions())
        assert changes_of(diff.components, "word-counter") == {"values.replicaCount": (2, value)}, value


def test_a_manifest_value_that_only_changes_type_is_a_changed_resource() -> None:
    """`replicas: 2` and `replicas: 2.0` (or `true`) are equal under `==`, not as Kubernetes reads them."""
    base = recorded_render()
    for value in (2.0, True):
        head = edited(base)
        manifest(head, "Deployment", "word-count-word-counter")["spec"]["replicas"] = value
        diff = diff_pipeline("word-count", None, base, head, DiffOptions())
        deployment = next(r for c in diff.components for r in c.resources if r.kind == "Deployment")
        assert deployment.status is Status.CHANGED, value
        assert ("replicas: true" if value is True else "replicas: 2.0") in deployment.diff, value


def test_a_resource_changed_only_in_ignored_fields_is_unchanged() -> None:
    base = recorded_render()
    head = edited(base)
    manifest(head, "Deployment", "word-count-word-counter")["metadata"]["labels"]["helm.sh/chart"] = "other-9.9.9"
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    deployment = next(r for c in diff.components for r in c.resources if r.kind == "Deployment")
    assert (deployment.status, deployment.diff) == (Status.UNCHANGED, "")
