"""Connectors under `connectors: strimzi`, rendered by real kpops and committed into a real bare repository: deploy,
a removed connector, destroy, reset and clean of word-count in manifest and argo mode; a literal secret refused, a
config-provider reference accepted; every committed folder built by real kustomize (`kubectl kustomize`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kpops_bot.connectors import ConnectorPolicy, ConnectorSetup
from kpops_bot.engine.kinds import ConnectorDeploy
from kpops_bot.engine.model import Operation
from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.sandbox import Layer
from kpops_bot.managed import Isolation
from kpops_bot.masking import Masker
from kpops_bot.settings import OperationMode
from kpops_bot.workflows.operate import Operator, Step, StepResult
from kpops_bot.workspace import Workspace
from tests.helpers import GitRepo
from tests.support.kustomize import build_committed_folders
from tests.support.workflow_kit import settings
from tests.test_one_off_jobs import FOLDER, WORD_COUNT, GitOps

PIPELINE = "pipelines/word-count/pipeline.yaml"
CONNECTOR_FILE = "kafkaconnector-word-count-redis-sink-connector.yaml"
REFERENCE = "${secrets:kafka/redis-credentials:password}"
STRIMZI = ConnectorPolicy(ConnectorSetup(ConnectorDeploy.STRIMZI, "my-connect", "kafka"))


@pytest.fixture
def gitops(tmp_path: Path) -> GitOps:
    seed = GitRepo(tmp_path / "seed")
    seed.write("README.md", "deployments\n")
    seed.commit("start")
    return GitOps(seed.bare_clone(tmp_path / "gitops.git"))


@pytest.fixture
def referenced(deployment_repo: GitRepo) -> GitRepo:
    """word-count with its Redis password read by Strimzi's Kubernetes Secret config provider."""
    deployment_repo.replace(PIPELINE, "connection.password: changeme-in-vault", f'connection.password: "{REFERENCE}"')
    deployment_repo.commit("Redis password from a Secret")
    return deployment_repo


def _operator(
    repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, mode: OperationMode, policy: ConnectorPolicy
) -> tuple[Operator, str]:
    repository = workspace.repository(str(repo.path))
    operator = Operator(
        settings(tmp_path), lambda: pool, None, repository, mode, ".", Masker(), Isolation(Layer.OFF), policy
    )
    return operator, repository.resolve("main")


def _run(operator: Operator, commit: str, operation: Operation, run_id: str = "apply") -> StepResult:
    (result,) = operator.run([Step(operation, WORD_COUNT, "dev", commit)], run_id)
    return result


def kustomize_build(gitops: GitOps) -> list[dict[str, Any]]:
    """The pipeline's committed folder as Flux's kustomize-controller and Argo CD build it (real kustomize)."""
    return build_committed_folders(gitops.bare)[FOLDER]


@pytest.mark.parametrize("mode", [OperationMode.MANIFEST, OperationMode.ARGO])
def test_deploy_commits_a_kafka_connector_that_kustomize_builds_and_destroy_removes_it(
    referenced: GitRepo,
    workspace: Workspace,
    pool: RenderPool,
    tmp_path: Path,
    gitops: GitOps,
    mode: OperationMode,
) -> None:
    operator, commit = _operator(referenced, workspace, pool, tmp_path, mode, STRIMZI)
    deployed = _run(operator, commit, Operation.DEPLOY)
    assert deployed.ok and deployed.not_applied == (), deployed.summary
    gitops.publish([deployed])

    assert f"{FOLDER}/{CONNECTOR_FILE}" in gitops.files()
    assert CONNECTOR_FILE in gitops.listed()
    connector = yaml.safe_load(gitops.git("show", f"main:{FOLDER}/{CONNECTOR_FILE}"))
    assert connector["metadata"] == {
        "name": "word-count-redis-sink-connector",
        "namespace": "kafka",
        "labels": {"strimzi.io/cluster": "my-connect"},
    }
    assert connector["spec"]["class"] == "com.github.jcustenborder.kafka.connect.redis.RedisSinkConnector"
    assert connector["spec"]["tasksMax"] == 1
    assert connector["spec"]["config"]["connection.password"] == REFERENCE
    assert connector["spec"]["config"]["topics"] == "word-count-word-counter-topic"
    assert "status" not in connector and not {"name", "connector.class", "tasks.max"} & set(connector["spec"]["config"])

    built = kustomize_build(gitops)
    assert [d for d in built if d["kind"] == "KafkaConnector"] == [connector]
    assert {d["kind"] for d in built} >= {"Deployment", "KafkaTopic", "KafkaConnector"}

    # Without strimzi the same deploy commits what kpops renders, and says the connector is not deployed.
    plain, _ = _operator(referenced, workspace, pool, tmp_path, mode, ConnectorPolicy())
    unchanged = _run(plain, commit, Operation.DEPLOY)
    assert unchanged.write is not None and CONNECTOR_FILE not in (unchanged.write.resources or {})
    assert [reason.split(" — ")[0] for reason in unchanged.not_applied] == [
        f"not deployed in {mode.render_mode} mode: `redis-sink-connector` (kafka-sink-connector)"
    ]

    destroyed = _run(operator, commit, Operation.DESTROY)
    assert destroyed.ok and destroyed.not_applied == ()
    gitops.publish([destroyed])
    assert gitops.files() == []


def test_a_connector_removed_from_the_pipeline_leaves_the_folder(
    referenced: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, gitops: GitOps
) -> None:
    operator, commit = _operator(referenced, workspace, pool, tmp_path, OperationMode.MANIFEST, STRIMZI)
    gitops.publish([_run(operator, commit, Operation.DEPLOY)])
    text = (referenced.path / PIPELINE).read_text()
    referenced.write(PIPELINE, text[: text.index("- type: kafka-sink-connector")])
    referenced.commit("Redis sink retired")
    operator, commit = _operator(referenced, workspace, pool, tmp_path, OperationMode.MANIFEST, STRIMZI)
    gitops.publish([_run(operator, commit, Operation.DEPLOY)])
    assert f"{FOLDER}/{CONNECTOR_FILE}" not in gitops.files()
    assert CONNECTOR_FILE not in gitops.listed()
    assert "KafkaConnector" not in {d["kind"] for d in kustomize_build(gitops)}


def test_a_literal_secret_refuses_the_publish_naming_the_connector_and_key(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, gitops: GitOps
) -> None:
    operator, commit = _operator(deployment_repo, workspace, pool, tmp_path, OperationMode.MANIFEST, STRIMZI)
    refused = _run(operator, commit, Operation.DEPLOY)
    assert not refused.ok and refused.write is None
    assert refused.summary.startswith(
        "refused: `connection.password` of connector `redis-sink-connector` holds a literal secret"
    )
    assert "changeme-in-vault" not in refused.summary + refused.detail
    assert gitops.publish([refused]).commit is None


@pytest.mark.parametrize("mode", [OperationMode.MANIFEST, OperationMode.ARGO])
@pytest.mark.parametrize("operation", [Operation.RESET, Operation.CLEAN])
def test_reset_and_clean_say_what_the_operator_must_still_do_for_the_connector(
    referenced: GitRepo,
    workspace: Workspace,
    pool: RenderPool,
    tmp_path: Path,
    gitops: GitOps,
    mode: OperationMode,
    operation: Operation,
) -> None:
    operator, commit = _operator(referenced, workspace, pool, tmp_path, mode, STRIMZI)
    gitops.publish([_run(operator, commit, Operation.DEPLOY)])
    result = _run(operator, commit, operation, "c1042")
    assert result.ok, result.summary
    [reason] = result.not_applied
    verb = "reset" if operation is Operation.RESET else "cleaned"
    assert reason.startswith(f"not {verb} in {mode.render_mode} mode: `redis-sink-connector` (kafka-sink-connector)")
    assert "kubectl annotate kafkaconnector word-count-redis-sink-connector -n kafka" in reason
    gitops.publish([result])
    if result.write is not None:  # the Jobs kpops renders are committed; the folder still builds
        kustomize_build(gitops)
    connector = yaml.safe_load(gitops.git("show", f"main:{FOLDER}/{CONNECTOR_FILE}"))
    assert "state" not in connector["spec"]  # nothing was stopped behind the operator's back
