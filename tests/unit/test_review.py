"""What a reviewer sees of a change, with real kpops renders of the deployment repository: added components in full,
and each risk pointed at the line of the file behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpops_bot.adapters.operations import Operator
from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport, PipelineDiff, Risk, RiskLevel, Status
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.child import ARGO_CLEAN_NOTE
from kpops_bot.engine.pool import RenderPool
from kpops_bot.managed import Isolation
from kpops_bot.masking import Masker
from kpops_bot.model.render import Operation
from kpops_bot.pipelines import Pipeline
from kpops_bot.report.markdown import render_markdown
from kpops_bot.sandbox.layers import Layer
from kpops_bot.settings import OperationMode
from kpops_bot.sources import SourceLocation
from kpops_bot.workflows.steps import Step
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo
from tests.support.workflow_kit import settings

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
ORDERS = "pipelines/team-a/orders/pipeline.yaml"
AUDIT_SINK = """
- type: kafka-sink-connector
  name: audit-sink
  config:
    connector.class: io.confluent.connect.s3.S3SinkConnector
    topics: team-a-orders-order-enricher-topic
    s3.bucket.name: audit
    aws.secret.access.key: do-not-show-me
"""


def line_of(repo: GitRepo, path: str, text: str) -> SourceLocation:
    lines = (repo.path / path).read_text(encoding="utf-8").splitlines()
    return SourceLocation(file=path, line=next(n for n, line in enumerate(lines, 1) if text in line))


def pipeline(report: DiffReport, name: str) -> PipelineDiff:
    return next(p for p in report.pipelines if p.name == name)


def risk(diff: PipelineDiff, code: str) -> Risk:
    found = [r for r in diff.risks if r.code == code]
    assert len(found) == 1, [r.code for r in diff.risks]
    return found[0]


@pytest.fixture
def reviewed(deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool) -> tuple[GitRepo, DiffReport]:
    repo = deployment_repo
    repo.git("checkout", "-q", "-b", "feature")
    orders = (repo.path / ORDERS).read_text(encoding="utf-8")
    orders = orders.replace(
        "image: registry.example.com/team-a/order-generator", "image: ${DOCKER_REGISTRY}/team-a/order-generator"
    )
    orders = orders.replace("replication_factor: 3", "replication_factor: 2")
    repo.write(ORDERS, orders + AUDIT_SINK)
    repo.replace(WORD_COUNT, "  name: data-producer\n", "  name: data-producer\n  enabled: false\n")
    repo.replace(WORD_COUNT, "      ${output_topic_name}:\n", "      word-count-counts:\n")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: three")
    repo.commit("Review every risk")
    request = DiffRequest(source=str(repo.path), base="main", head="feature")
    return repo, diff_revisions(workspace, pool, request, DiffOptions())


def test_an_added_connector_shows_its_configuration_masked(reviewed: tuple[GitRepo, DiffReport]) -> None:
    _, report = reviewed
    orders = pipeline(report, "team-a-orders")
    sink = next(c for c in orders.components if c.name == "audit-sink")
    assert sink.status is Status.ADDED
    assert sink.resources == []
    config = {field.path: field.value for field in sink.config}
    assert config['config["connector.class"]'] == "io.confluent.connect.s3.S3SinkConnector"
    assert config['config["s3.bucket.name"]'] == "audit"
    assert config['config["aws.secret.access.key"]'] == "***"
    text = "".join(render_markdown(report))
    assert "Configuration at head" in text
    assert "S3SinkConnector" in text
    assert "do-not-show-me" not in text
    assert "added `audit-sink`" in text


def test_each_risk_names_the_line_behind_it(reviewed: tuple[GitRepo, DiffReport]) -> None:
    repo, report = reviewed
    orders, word_count = pipeline(report, "team-a-orders"), pipeline(report, "word-count")

    unset = risk(orders, "variable-unset")
    assert unset.component == "order-generator"
    assert unset.field == "values.image"
    assert "`${DOCKER_REGISTRY}`" in unset.message
    assert unset.source == line_of(repo, ORDERS, "${DOCKER_REGISTRY}")

    replication = risk(orders, "replication-factor-changed")
    assert replication.level is RiskLevel.WARNING
    assert "Cruise Control" in replication.message
    assert replication.source == line_of(repo, ORDERS, "replication_factor: 2")

    invalid = risk(word_count, "manifest-invalid")
    assert invalid.level is RiskLevel.DANGER
    assert invalid.field == "spec.replicas"
    assert "Deployment `word-count-word-counter`: spec.replicas: 'three' is not of type" in invalid.message
    assert invalid.source == line_of(repo, WORD_COUNT, "replicaCount: three")

    disabled = risk(word_count, "component-disabled")
    assert disabled.component == "data-producer"
    assert disabled.source == line_of(repo, WORD_COUNT, "enabled: false")
    producer = next(c for c in word_count.components if c.name == "data-producer")
    assert producer.status is Status.REMOVED

    renamed = risk(word_count, "topic-renamed")
    assert renamed.topic == "word-count-word-counter-topic"
    assert renamed.source == line_of(repo, WORD_COUNT, "word-count-counts:")

    assert report.summary.blocking
    text = "".join(render_markdown(report))
    assert f"`{WORD_COUNT}:{invalid.source.line}`" in text


@pytest.mark.parametrize("mode", [OperationMode.MANIFEST, OperationMode.ARGO])
def test_what_kpops_clean_does_surprisingly_is_said_in_the_answer(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, mode: OperationMode
) -> None:
    repository = workspace.repository(str(deployment_repo.path))
    commit = repository.resolve("main")
    operator = Operator(settings(tmp_path), lambda: pool, None, repository, mode, ".", Masker(), Isolation(Layer.OFF))
    step = Step(Operation.CLEAN, Pipeline("word-count", "pipelines/word-count"), None, commit)
    [result] = operator.run([step], "c1")
    assert result.ok
    if mode is OperationMode.MANIFEST:
        assert result.summary.endswith("job(s) in `rendered/default/word-count/jobs/`")
        assert result.detail.startswith(
            "> kpops renders the clean Job of `word-counter` with `args: [reset]`: it resets offsets and state, "
            "and deletes none of the app's topics."
        )
    else:
        assert result.summary == f"kpops clean renders no job for this pipeline. {ARGO_CLEAN_NOTE}"
