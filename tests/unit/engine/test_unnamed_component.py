"""A component without `name:` is blamed on its entry in the pipeline file (it was `config.yaml:2: Field required:
name`): real git, real kpops, the built-in helm; the pull request comment that says so has a golden file."""

from __future__ import annotations

import pytest

from kpops_bot.diff.model import DiffReport, Status
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.targets import render_revision
from kpops_bot.model.render import RenderSpec
from kpops_bot.report.markdown import render_markdown
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo
from tests.support.golden import check_golden

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
CONNECTOR_NAME = "  name: redis-sink-connector\n"


def _line(repo: GitRepo, text: str) -> int:
    lines = (repo.path / WORD_COUNT).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if line == text)


def _connector_line(repo: GitRepo) -> int:
    return _line(repo, "- type: kafka-sink-connector")


@pytest.mark.parametrize(
    ("name", "component_type", "environment"),
    [
        ("  name: data-producer\n", "producer-app", None),  # pydantic's `Field required: name`
        (CONNECTOR_NAME, "kafka-sink-connector", None),  # a validator's `KeyError: 'name'`
        (CONNECTOR_NAME, "kafka-sink-connector", "dev"),
    ],
    ids=["producer", "connector", "connector-dev"],
)
def test_a_component_without_a_name_is_blamed_on_its_entry_in_the_pipeline_file(
    workspace: Workspace,
    pool: RenderPool,
    deployment_repo: GitRepo,
    name: str,
    component_type: str,
    environment: str | None,
) -> None:
    deployment_repo.replace(WORD_COUNT, name, "")
    deployment_repo.commit("a component without a name")
    spec = RenderSpec(environment=environment)
    (result,) = render_revision(workspace, pool, str(deployment_repo.path), "HEAD", ["word-count"], spec)
    error = result.error
    assert error is not None
    line = _line(deployment_repo, f"- type: {component_type}")
    assert (error.kind, error.file, error.line, error.component) == ("validation", WORD_COUNT, line, None)
    assert error.message == f"{WORD_COUNT}:{line}: component without a name ({component_type}): Field required: name"


def test_a_config_error_is_still_blamed_on_the_config_file(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    """kpops' own config model fails the same way (no component named): that stays config.yaml's."""
    deployment_repo.replace("config.yaml", "kafka_brokers:", "kafka_brokerz:")
    deployment_repo.commit("misspelt brokers")
    (result,) = render_revision(workspace, pool, str(deployment_repo.path), "HEAD", ["word-count"], RenderSpec())
    assert result.error is not None
    assert (result.error.kind, result.error.file) == ("config", "config.yaml")
    assert result.error.message.endswith("Field required: kafka_brokers")


def test_the_pull_request_comment_names_the_pipeline_file(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.replace(WORD_COUNT, CONNECTOR_NAME, "")
    deployment_repo.commit("the connector has no name")
    report = diff_revisions(workspace, pool, DiffRequest(str(deployment_repo.path), "main", "feature"))
    [pipeline] = report.pipelines
    assert pipeline.status is Status.ERROR
    (comment,) = render_markdown(report)
    assert f"{WORD_COUNT}:{_connector_line(deployment_repo)}" in comment
    assert "config.yaml" not in comment
    check_golden("errors/unnamed-component.md", _stable(comment, report))


def _stable(text: str, report: DiffReport) -> str:
    return text.replace(report.base[:12], "<base>").replace(report.head[:12], "<head>")


def test_a_component_without_a_name_of_an_unknown_type_is_blamed_on_its_entry(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    deployment_repo.replace(WORD_COUNT, CONNECTOR_NAME, "")
    deployment_repo.replace(WORD_COUNT, "type: kafka-sink-connector", "type: redis-sink")
    deployment_repo.commit("a component without a name, of a type kpops does not have")
    (result,) = render_revision(workspace, pool, str(deployment_repo.path), "HEAD", ["word-count"], RenderSpec())
    assert result.error is not None
    line = _line(deployment_repo, "- type: redis-sink")
    assert (result.error.kind, result.error.line) == ("component-type", line)
    assert result.error.message == (
        f"{WORD_COUNT}:{line}: component without a name (redis-sink): unknown component type 'redis-sink'; "
        "kpops' own types or a custom component in kpops/components/"
    )


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("- name: redis-sink-connector\n", "component 'redis-sink-connector'"),
        ("- config:\n", "component without a name"),
    ],
    ids=["named", "unnamed"],
)
def test_a_component_without_a_type_is_blamed_on_its_entry(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo, entry: str, named: str
) -> None:
    """kpops said `KeyError: 'type'` for a named one, blamed on the pipeline file without a line."""
    replaced = "- type: kafka-sink-connector\n" + CONNECTOR_NAME + "  config:\n"
    deployment_repo.replace(WORD_COUNT, replaced, entry if entry.endswith("config:\n") else entry + "  config:\n")
    deployment_repo.commit("a component without a type")
    line = _line(deployment_repo, entry.splitlines()[0])
    (result,) = render_revision(workspace, pool, str(deployment_repo.path), "HEAD", ["word-count"], RenderSpec())
    assert result.error is not None
    assert (result.error.kind, result.error.file, result.error.line) == ("validation", WORD_COUNT, line)
    assert result.error.message == f"{WORD_COUNT}:{line}: {named}: Field required: type"
