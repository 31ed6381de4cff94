"""Connectors under `connectors: strimzi`, rendered by real kpops and committed into a real bare repository: deploy,
a removed connector, destroy, reset and clean of word-count in manifest and argo mode; a literal secret refused, a
config-provider reference accepted; every committed folder built by real kustomize (`kubectl kustomize`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kpops_bot.adapters.operations import Operator
from kpops_bot.connectors import ConnectorPolicy, ConnectorSetup
from kpops_bot.engine.pool import RenderPool
from kpops_bot.managed import Isolation
from kpops_bot.masking import Masker
from kpops_bot.model.kinds import ConnectorDeploy
from kpops_bot.model.render import Operation
from kpops_bot.sandbox.layers import Layer
from kpops_bot.settings import OperationMode
from kpops_bot.workflows.steps import Step, StepResult
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo
from tests.support.kustomize import build_committed_folders
from tests.support.workflow_kit import settings
from tests.unit.workflows.test_one_off_jobs import FOLDER, WORD_COUNT, GitOps

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
def test_reset_and_clean_commit_a_one_off_offsets_reset_and_say_what_is_left_to_the_operator(
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
    reset = "word-count-redis-sink-connector-offsets-reset-c1042"
    assert f"Job `{reset}` stops KafkaConnector `word-count-redis-sink-connector`" in result.detail
    if operation is Operation.RESET:
        assert result.not_applied == ()  # kpops' Jobs and the connector's offsets reset: all of it
    else:
        [reason] = result.not_applied
        assert reason.startswith(f"cleaned only partly in {mode.render_mode} mode: `redis-sink-connector`")
        assert reason.endswith("the operator must still delete that group and its error topics")
    tip = gitops.publish([result]).commit
    committed = {path.removeprefix(f"{FOLDER}/jobs/") for path in gitops.files(f"{FOLDER}/jobs")}
    assert {f"{kind}-{reset}.yaml" for kind in ("serviceaccount", "role", "rolebinding", "job")} <= committed
    job = yaml.safe_load(gitops.git("show", f"main:{FOLDER}/jobs/job-{reset}.yaml"))
    assert job["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}  # created once
    assert "ttlSecondsAfterFinished" not in job["spec"]  # a finished Job stays: nothing recreates it
    built = kustomize_build(gitops)
    assert {(d["kind"], d["metadata"]["name"]) for d in built} >= {("Job", reset), ("RoleBinding", reset)}
    # The state and the annotation are the Job's to set: the committed connector carries neither.
    connector = yaml.safe_load(gitops.git("show", f"main:{FOLDER}/{CONNECTOR_FILE}"))
    assert "state" not in connector["spec"] and "annotations" not in connector["metadata"]

    # The same command retried writes the same files: nothing new runs. Another comment's reset runs again.
    assert gitops.publish([_run(operator, commit, operation, "c1042")]).commit is None
    assert gitops.git("rev-parse", "main").strip() == tip
    gitops.publish([_run(operator, commit, operation, "c2001")])
    assert f"{FOLDER}/jobs/job-word-count-redis-sink-connector-offsets-reset-c2001.yaml" in gitops.files()


def test_without_strimzi_reset_commits_nothing_for_the_connector_and_says_what_the_operator_must_do(
    referenced: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    operator, commit = _operator(referenced, workspace, pool, tmp_path, OperationMode.MANIFEST, ConnectorPolicy())
    result = _run(operator, commit, Operation.RESET, "c1042")
    assert result.ok and result.write is not None
    assert not [name for name in result.write.jobs if "offsets-reset" in name]
    [reason] = result.not_applied
    assert reason.startswith("not reset in manifest mode: `redis-sink-connector` (kafka-sink-connector)")
    assert "the operator must reset the offsets of consumer group `connect-word-count-redis-sink-connector`" in reason


def test_a_connector_name_kubernetes_refuses_refuses_the_reset_before_anything_is_committed(
    referenced: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    referenced.replace(PIPELINE, "name: redis-sink-connector", "name: Redis_Sink")
    referenced.commit("A name only kpops accepts")
    operator, commit = _operator(referenced, workspace, pool, tmp_path, OperationMode.MANIFEST, STRIMZI)
    result = _run(operator, commit, Operation.RESET, "c1042")
    assert not result.ok and result.write is None
    assert result.summary == (
        "refused: connector `Redis_Sink`: its name 'word-count-Redis_Sink' is not a Kubernetes name "
        "(lower case, digits, '-', '.'); nothing committed"
    )


def test_a_kafka_connector_strimzis_crd_refuses_is_not_committed(
    referenced: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, gitops: GitOps
) -> None:
    """Flux applies a folder as a whole: one resource the API server refuses would hold back all of the pipeline."""
    referenced.replace(PIPELINE, "tasks.max: 1", "tasks.max: 0")
    referenced.commit("No tasks")
    operator, commit = _operator(referenced, workspace, pool, tmp_path, OperationMode.MANIFEST, STRIMZI)
    result = _run(operator, commit, Operation.DEPLOY)
    assert not result.ok and result.write is None
    assert result.summary == (
        "refused: KafkaConnector `word-count-redis-sink-connector`: spec.tasksMax: 0 is less than the minimum of 1; "
        "nothing of this pipeline was committed"
    )
    assert gitops.publish([result]).commit is None
