"""Connectors in the GitOps modes, from recorded kpops renders: what a merge applies (every mode, every report), the
KafkaConnector made from the enriched configuration, literal secrets, and the settings that choose."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from kpops_bot.connectors import (
    ConnectorKeys,
    ConnectorPolicy,
    ConnectorSetup,
    applied,
    destroy_leaves,
    kafka_connector,
    kubernetes_name_problem,
    literal_secrets,
    offsets_reset,
    with_connectors,
)
from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.manifest_schemas import violations
from kpops_bot.diff.model import RiskLevel, Status
from kpops_bot.masking import Masker
from kpops_bot.model.kinds import ConnectorDeploy
from kpops_bot.model.render import Mode, Operation, PipelineRender
from kpops_bot.repo_config import InvalidRepoConfigError, effective, parse_repo_config
from kpops_bot.report import answers
from kpops_bot.report.as_json import render_json
from kpops_bot.report.markdown import render_markdown
from kpops_bot.settings import BotSettings, OperationMode
from tests.support.golden import check_golden
from tests.support.renders import component, recorded_render
from tests.support.reports import BASE, HEAD, edited

STRIMZI = ConnectorSetup(ConnectorDeploy.STRIMZI, "my-connect", "kafka")
SINK = "redis-sink-connector"
REFERENCE = "${secrets:kafka/redis-credentials:password}"


def _sink_config(render: PipelineRender) -> dict[str, object]:
    config: dict[str, object] = component(render, SINK).config["config"]
    return config


def _with_reference(render: PipelineRender) -> None:
    _sink_config(render)["connection.password"] = REFERENCE


def test_the_kafka_connector_carries_kpops_enriched_config_and_nothing_strimzi_sets_itself() -> None:
    render = edited(_with_reference)
    resource = kafka_connector(component(render, SINK), STRIMZI)
    assert resource == {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaConnector",
        "metadata": {
            "name": "word-count-redis-sink-connector",
            "namespace": "kafka",
            "labels": {"strimzi.io/cluster": "my-connect"},
        },
        "spec": {
            "class": "com.github.jcustenborder.kafka.connect.redis.RedisSinkConnector",
            "tasksMax": 1,
            "config": {
                "topics": "word-count-word-counter-topic",
                "redis.hosts": "redis-headless:6379",
                "redis.database": "0",
                "connection.password": REFERENCE,
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            },
        },
    }
    assert violations(resource) == []


def test_a_literal_secret_never_reaches_the_kafka_connector_and_references_of_every_provider_pass() -> None:
    sink = component(recorded_render(), SINK)
    assert literal_secrets(sink) == ["connection.password"]
    assert "connection.password" not in kafka_connector(sink, STRIMZI)["spec"]["config"]
    deployed = with_connectors(recorded_render(), STRIMZI)
    assert "changeme-in-vault" not in json.dumps([c.manifests for c in deployed.components])
    assert any("`connection.password` holds a literal secret" in note for note in deployed.notes)
    for reference in (
        REFERENCE,
        "${file:/opt/kafka/redis.properties:password}",
        "${env:REDIS_PASSWORD}",
        "${directory:/mnt/redis:password}",
    ):
        reference_sink = sink.model_copy(deep=True)
        reference_sink.config["config"]["connection.password"] = reference
        assert literal_secrets(reference_sink) == []
        assert kafka_connector(reference_sink, STRIMZI)["spec"]["config"]["connection.password"] == reference
    # The masker's other rules: credentials in a URL, a value the bot holds, under keys that do not look secret.
    leaky = sink.model_copy(deep=True)
    leaky.config["config"] |= {"redis.url": "redis://:hunter22@redis", "redis.auth": "held-by-the-bot"}
    assert literal_secrets(leaky, Masker().with_secrets(["held-by-the-bot"])) == [
        "connection.password",
        "redis.auth",
        "redis.url",
    ]
    assert literal_secrets(leaky) == ["connection.password", "redis.url"]
    # A reference kpops left unresolved is not a provider: `${REDIS_PASSWORD}` would be committed as it is.
    unresolved = sink.model_copy(deep=True)
    unresolved.config["config"]["connection.password"] = "${REDIS_PASSWORD}"
    assert literal_secrets(unresolved) == ["connection.password"]


def test_none_keeps_kpops_output_exactly_and_strimzi_adds_one_connector_resource_at_deploy_only() -> None:
    render = recorded_render()
    assert with_connectors(render, ConnectorSetup()) == render
    deployed = with_connectors(render, STRIMZI)
    kinds = {c.name: [m["kind"] for m in c.manifests] for c in deployed.components}
    assert kinds[SINK] == ["KafkaConnector"]
    assert kinds["word-counter"] == [m["kind"] for m in component(render, "word-counter").manifests]
    reset = render.model_copy(update={"operation": Operation.RESET})
    assert with_connectors(reset, STRIMZI) == reset


def test_what_each_mode_applies_of_each_component_and_why_not() -> None:
    render = recorded_render()
    sink, streams = component(render, SINK), component(render, "word-counter")
    none = ConnectorSetup()
    assert applied(sink, Operation.DEPLOY, None, none).applied  # managed: kpops runs it
    assert applied(streams, Operation.DEPLOY, Mode.MANIFEST, none).applied
    not_deployed = applied(sink, Operation.DEPLOY, Mode.MANIFEST, none)
    assert not_deployed.reason == (
        "not deployed in manifest mode: `redis-sink-connector` (kafka-sink-connector) — kpops renders no manifest "
        "for connectors; set `connectors: strimzi` to deploy it as a KafkaConnector"
    )
    assert applied(sink, Operation.DEPLOY, Mode.ARGO, STRIMZI).applied
    assert applied(sink, Operation.DESTROY, Mode.ARGO, STRIMZI).applied
    assert not applied(sink, Operation.DESTROY, Mode.ARGO, none).applied
    assert applied(sink, Operation.RESET, Mode.MANIFEST, STRIMZI).applied  # the offsets-reset Job does it all
    reset = applied(sink, Operation.RESET, Mode.MANIFEST, none)
    assert not reset.applied and reset.reason is not None
    assert "the operator must reset the offsets of consumer group `connect-word-count-redis-sink-connector`" in (
        reset.reason
    )
    clean = applied(sink, Operation.CLEAN, Mode.ARGO, STRIMZI)
    assert clean.reason == (
        "cleaned only partly in argo mode: `redis-sink-connector` (kafka-sink-connector) — the committed "
        "offsets-reset Job resets the offsets of consumer group `connect-word-count-redis-sink-connector` through "
        "Strimzi; no Kubernetes resource deletes a consumer group or a topic kpops deploys, so the operator must "
        "still delete that group and its error topics"
    )
    source = sink.model_copy(update={"type": "kafka-source-connector"})
    source_clean = applied(source, Operation.CLEAN, Mode.MANIFEST, STRIMZI).reason
    assert source_clean is not None and source_clean.endswith("must still delete its output topics")


def test_a_preview_says_what_the_merge_applies_in_markdown_and_json() -> None:
    def more_tasks(head: PipelineRender) -> None:
        _sink_config(head)["tasks.max"] = "2"

    base, head = edited(lambda _render: None), edited(more_tasks)
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    report = build_report(BASE, HEAD, Mode.MANIFEST, [None], [diff])
    [risk] = diff.risks
    assert (risk.level, risk.code, risk.component) == (RiskLevel.WARNING, "not-applied", SINK)
    (markdown,) = render_markdown(report)
    check_golden("connector-not-applied.md", markdown)
    document = json.loads(render_json(report))
    verdicts = {c["name"]: (c["applied"], c["reason"]) for c in document["pipelines"][0]["components"]}
    assert verdicts["word-counter"] == (True, None)
    assert verdicts[SINK][0] is False and verdicts[SINK][1].startswith("not deployed in manifest mode")
    # What the bot holds is masked in the reasons and risks too (here a name that happens to hold it).
    held = DiffOptions(masker=Masker().with_secrets(["redis-sink"]))
    masked = diff_pipeline("word-count", None, base, head, held)
    shown = [c.reason or "" for c in masked.components] + [risk.message for risk in masked.risks]
    assert any("***" in text for text in shown) and not any("redis-sink" in text for text in shown)
    # Managed mode applies everything: no verdict against it, no risk.
    managed = diff_pipeline("word-count", None, base, head, DiffOptions(operation_mode=OperationMode.MANAGED))
    assert managed.risks == [] and all(c.applied for c in managed.components)


def test_under_strimzi_the_preview_diffs_the_kafka_connector_and_a_literal_secret_is_a_danger() -> None:
    def more_tasks(head: PipelineRender) -> None:
        _sink_config(head)["tasks.max"] = "2"

    options = DiffOptions(connectors=ConnectorPolicy(STRIMZI))
    base, head = with_connectors(edited(lambda _r: None), STRIMZI), with_connectors(edited(more_tasks), STRIMZI)
    diff = diff_pipeline("word-count", None, base, head, options)
    [risk] = diff.risks
    assert (risk.level, risk.code, risk.field) == (
        RiskLevel.DANGER,
        "connector-secret-literal",
        "config.connection.password",
    )
    sink = next(c for c in diff.components if c.name == SINK)
    [resource] = sink.resources
    assert (resource.kind, resource.status) == ("KafkaConnector", Status.CHANGED)
    assert "-  tasksMax: 1\n+  tasksMax: 2" in resource.diff
    report = build_report(BASE, HEAD, Mode.MANIFEST, [None], [diff])
    (markdown,) = render_markdown(report)
    check_golden("connector-strimzi.md", markdown)
    assert "changeme-in-vault" not in markdown + render_json(report)

    safe = diff_pipeline(
        "word-count",
        None,
        with_connectors(edited(_with_reference), STRIMZI),
        with_connectors(edited(lambda r: (_with_reference(r), more_tasks(r))), STRIMZI),
        options,
    )
    assert safe.risks == [] and all(c.applied for c in safe.components)


def test_a_command_answer_lists_what_the_mode_did_not_apply() -> None:
    sink = component(recorded_render(), SINK)
    reasons = [
        applied(sink, Operation.RESET, Mode.MANIFEST, ConnectorSetup()),
        applied(sink, Operation.CLEAN, Mode.MANIFEST, STRIMZI),
    ]
    lines = [
        answers.StepLine(
            True,
            "word-count",
            "dev",
            operation,
            "a" * 40,
            "1 job(s) in `rendered/dev/word-count/jobs/`",
            not_applied=(verdict.reason or "",),
        )
        for operation, verdict in zip(("reset", "clean"), reasons, strict=True)
    ]
    left = destroy_leaves("word-count", Mode.ARGO, ConnectorSetup())
    assert left is not None and destroy_leaves("word-count", Mode.ARGO, STRIMZI) is None
    summary = "`rendered/dev/word-count/` removed"
    lines.append(answers.StepLine(True, "word-count", "dev", "destroy", "a" * 40, summary, not_applied=(left,)))
    check_golden(
        "bot/answer-connectors-not-applied.md",
        answers.answer("`/kpops reset word-count`", [answers.step_results(lines)]),
    )


def test_the_offsets_reset_is_a_one_off_job_that_stops_resets_and_resumes_through_strimzi() -> None:
    sink = component(recorded_render(), SINK)
    account, role, binding, job = offsets_reset(sink, STRIMZI, "c1042")
    name = "word-count-redis-sink-connector-offsets-reset-c1042"
    assert [r["kind"] for r in (account, role, binding, job)] == ["ServiceAccount", "Role", "RoleBinding", "Job"]
    assert {r["metadata"]["name"] for r in (account, role, binding, job)} == {name}
    assert {r["metadata"]["namespace"] for r in (account, role, binding, job)} == {"kafka"}
    assert job["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    assert "ttlSecondsAfterFinished" not in job["spec"]
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == name and pod["restartPolicy"] == "Never"
    script = pod["containers"][0]["command"][2].splitlines()
    resource = "kafkaconnector/word-count-redis-sink-connector"
    annotation = "strimzi\\.io/connector-offsets"  # jsonpath escapes the dot in the key
    assert script == [
        "set -eu",
        f'kubectl patch {resource} --type merge -p \'{{"spec":{{"state":"stopped"}}}}\'',
        f"kubectl wait {resource} --timeout=600s --for=jsonpath='{{.status.connectorStatus.connector.state}}'=STOPPED",
        f"kubectl annotate --overwrite {resource} strimzi.io/connector-offsets=reset",
        f"until [ -z \"$(kubectl get {resource} -o jsonpath='{{.metadata.annotations.{annotation}}}')\" ]; "
        "do sleep 5; done",
        f'kubectl patch {resource} --type json -p \'[{{"op":"remove","path":"/spec/state"}}]\'',
    ]
    assert role["rules"][0]["resourceNames"] == ["word-count-redis-sink-connector"]
    assert binding["roleRef"]["name"] == name and binding["subjects"][0]["name"] == name
    for resource_manifest in (account, role, binding, job):
        assert violations(resource_manifest) == []
    hostile = sink.model_copy(deep=True)
    hostile.config["config"]["name"] = "x'; kubectl delete ns kafka; '"
    assert kubernetes_name_problem(hostile) == (
        "connector `redis-sink-connector`: its name \"x'; kubectl delete ns kafka; '\" is not a Kubernetes name "
        "(lower case, digits, '-', '.')"
    )
    assert kubernetes_name_problem(sink) is None
    long = sink.model_copy(deep=True)
    long.config["config"]["name"] = "x" * 80
    assert len(offsets_reset(long, STRIMZI, "c1042")[3]["metadata"]["name"]) == 63


def test_the_settings_choose_per_environment_and_a_repository_file_overrides_them() -> None:
    server = BotSettings(
        connectors=ConnectorDeploy.STRIMZI,
        connect_cluster="my-connect",
        connectors_by_environment={"prod": {"connect_cluster": "prod-connect", "connect_namespace": "kafka"}},
    )
    config = effective(server, parse_repo_config(None), "main")
    assert config.connectors.for_environment("dev") == ConnectorSetup(ConnectorDeploy.STRIMZI, "my-connect")
    assert config.connectors.for_environment("prod") == ConnectorSetup(ConnectorDeploy.STRIMZI, "prod-connect", "kafka")
    assert config.diff_options.connectors == config.connectors
    repo = parse_repo_config("connectors: none\nconnectors_by_environment:\n  dev: {connectors: strimzi}\n")
    mine = effective(server, repo, "main")
    assert not mine.connectors.for_environment("prod").strimzi  # the file's top level over the server's environments
    assert mine.connectors.for_environment("dev") == ConnectorSetup(ConnectorDeploy.STRIMZI, "my-connect")
    managed = effective(server, parse_repo_config("operation_mode: managed"), "main")
    assert managed.connectors == ConnectorPolicy() and managed.diff_options.managed
    assert managed.operation_mode is OperationMode.MANAGED


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"connectors": "strimzi"}, "connectors: strimzi needs connect_cluster"),
        (
            {"connectors_by_environment": {"prod": {"connectors": "strimzi"}}},
            "(environment prod) needs connect_cluster",
        ),
        ({"connect_cluster": "My_Connect"}, "is not a Kubernetes name"),
        ({"connectors_by_environment": {"../prod": {}}}, "environment '../prod' is not a valid name"),
        ({"connectors": "kafka-connect"}, "Input should be 'none' or 'strimzi'"),
    ],
)
def test_invalid_connector_settings_are_refused_with_the_reason(keys: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ConnectorKeys.model_validate(keys)
    with pytest.raises(InvalidRepoConfigError, match="connectors: strimzi needs connect_cluster"):
        effective(BotSettings(), parse_repo_config("connectors: strimzi"), "main")
