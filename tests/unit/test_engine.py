"""The engine end to end: a real git repository, real kpops in forked processes, charts from a local server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import UnknownPipelineError, render_revision
from kpops_bot.model.render import Mode, Operation, PipelineRender, RenderSpec
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo


def render(
    workspace: Workspace, pool: RenderPool, repo: GitRepo, *pipelines: str, **spec: Any
) -> dict[str, PipelineRender]:
    results = render_revision(workspace, pool, str(repo.path), "HEAD", pipelines, RenderSpec(**spec))
    return {result.name: result for result in results}


def manifests(result: PipelineRender, kind: str) -> list[dict[str, Any]]:
    return [m for component in result.components for m in component.manifests if m["kind"] == kind]


def component(result: PipelineRender, name: str) -> Any:
    return next(c for c in result.components if c.name == name)


def test_word_count_renders_deployment_topics_and_connector(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    result = render(workspace, pool, deployment_repo, "word-count")["word-count"]
    assert result.error is None
    assert [(c.name, c.type) for c in result.components] == [
        ("data-producer", "producer-app"),
        ("word-counter", "streams-app"),
        ("redis-sink-connector", "kafka-sink-connector"),
    ]
    (deployment,) = manifests(result, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    topics = {topic["metadata"]["name"]: topic for topic in manifests(result, "KafkaTopic")}
    assert set(topics) == {
        "word-count-data-producer-topic",
        "word-count-word-counter-topic",
        "word-count-word-counter-error",
    }
    assert topics["word-count-word-counter-topic"]["spec"]["config"] == {"cleanup.policy": "compact"}
    connector = component(result, "redis-sink-connector")
    assert connector.manifests == []
    assert connector.config["config"]["topics"] == "word-count-word-counter-topic"
    assert connector.config["config"]["tasks.max"] == "1"


def test_every_fixture_pipeline_renders_and_the_custom_component_runs(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    results = render(workspace, pool, deployment_repo)
    assert sorted(results) == ["team-a-orders", "team-a-payments", "team-b-analytics-clickstream", "word-count"]
    assert all(result.ok for result in results.values()), [r.error for r in results.values()]
    clickstream = results["team-b-analytics-clickstream"]
    assert component(clickstream, "click-importer").type == "batch-producer"
    (cron_job,) = manifests(clickstream, "CronJob")
    assert cron_job["spec"]["schedule"] == "*/15 * * * *"
    (stateful_set,) = manifests(results["team-a-orders"], "StatefulSet")
    assert stateful_set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"


@pytest.mark.parametrize(
    ("environment", "replicas", "producer_partitions", "brokers"),
    [
        (None, 2, 3, "kafka-0.kafka-headless:9092,kafka-1.kafka-headless:9092"),
        ("dev", 1, 3, "kafka-dev-0.kafka-headless:9092"),
        ("prod", 2, 6, "kafka-0.kafka:9092,kafka-1.kafka:9092,kafka-2.kafka:9092"),
    ],
)
def test_environments_apply_their_config_defaults_and_pipeline_files(
    workspace: Workspace,
    pool: RenderPool,
    deployment_repo: GitRepo,
    environment: str | None,
    replicas: int,
    producer_partitions: int,
    brokers: str,
) -> None:
    result = render(workspace, pool, deployment_repo, "word-count", environment=environment)["word-count"]
    assert result.ok and result.environment == environment
    assert manifests(result, "Deployment")[0]["spec"]["replicas"] == replicas
    topics = {t["metadata"]["name"]: t for t in manifests(result, "KafkaTopic")}
    assert topics["word-count-data-producer-topic"]["spec"]["partitions"] == producer_partitions
    assert component(result, "word-counter").config["values"]["kafka"]["bootstrapServers"] == brokers


def test_argo_mode_adds_sync_waves(workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo) -> None:
    result = render(workspace, pool, deployment_repo, "word-count", mode=Mode.ARGO)["word-count"]
    (deployment,) = manifests(result, "Deployment")
    assert deployment["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "1"


@pytest.mark.parametrize(
    ("operation", "expected_kinds"),
    [
        (Operation.RESET, {"Job", "KafkaTopic"}),
        (Operation.CLEAN, {"Job"}),
        (Operation.DESTROY, {"KafkaTopic"}),
    ],
)
def test_operations(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo, operation: Operation, expected_kinds: set[str]
) -> None:
    result = render(workspace, pool, deployment_repo, "word-count", operation=operation)["word-count"]
    assert result.ok, result.error
    assert result.operation is operation
    assert {m["kind"] for c in result.components for m in c.manifests} == expected_kinds


def test_reset_runs_the_streams_cleanup_job(workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo) -> None:
    result = render(workspace, pool, deployment_repo, "word-count", operation=Operation.RESET)["word-count"]
    jobs = {job["metadata"]["name"]: job for job in manifests(result, "Job")}
    containers = jobs["word-count-word-counter-clean"]["spec"]["template"]["spec"]["containers"]
    assert containers[0]["args"] == ["reset"]


def test_argo_clean_renders_no_jobs_and_says_why(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    result = render(workspace, pool, deployment_repo, "word-count", mode=Mode.ARGO, operation=Operation.CLEAN)
    assert result["word-count"].ok
    assert all(not c.manifests for c in result["word-count"].components)
    assert "PostDelete" in result["word-count"].notes[0]


def test_bad_yaml_names_the_file_and_line(workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo) -> None:
    deployment_repo.replace("pipelines/word-count/pipeline.yaml", 'imageTag: "1.0.0"\n\n', 'imageTag: ["1.0.0"\n\n')
    deployment_repo.commit("broken YAML")
    results = render(workspace, pool, deployment_repo)
    error = results["word-count"].error
    assert error is not None and error.kind == "yaml"
    assert error.file == "pipelines/word-count/pipeline.yaml"
    assert error.message.startswith("pipelines/word-count/pipeline.yaml:7: invalid YAML: while parsing a flow sequence")
    assert "(opened at line 5)" in error.message
    assert "\n" not in error.message
    assert results["team-a-orders"].ok, "the other pipelines still render"


def test_bad_yaml_in_defaults_is_found_in_the_defaults_file(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    deployment_repo.write("pipelines/team-a/defaults.yaml", "streams-app:\n  values: {image: [\n")
    deployment_repo.commit("broken defaults")
    error = render(workspace, pool, deployment_repo, "team-a-orders")["team-a-orders"].error
    assert error is not None
    assert error.message.startswith("pipelines/team-a/defaults.yaml:3: invalid YAML")


def test_unknown_component_type(workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo) -> None:
    deployment_repo.replace("pipelines/word-count/pipeline.yaml", "type: kafka-sink-connector", "type: redis-sink")
    deployment_repo.commit("unknown type")
    error = render(workspace, pool, deployment_repo, "word-count")["word-count"].error
    assert error is not None and error.kind == "component-type"
    assert error.message == (
        "pipelines/word-count/pipeline.yaml: component 'redis-sink-connector': unknown component type 'redis-sink' "
        "(kpops' own types or a custom component in kpops/components/)"
    )


def test_missing_required_field(workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo) -> None:
    deployment_repo.replace("pipelines/word-count/pipeline.yaml", "    image: bakdata/kpops-demo-word-count-app\n", "")
    deployment_repo.commit("no image")
    error = render(workspace, pool, deployment_repo, "word-count")["word-count"].error
    assert error is not None and error.kind == "validation"
    assert error.component == "word-counter"
    # the line of the word-counter's `values:`, where the image is missing
    lines = (deployment_repo.path / "pipelines/word-count/pipeline.yaml").read_text(encoding="utf-8").splitlines()
    values_line = next(n for n, line in enumerate(lines, 1) if n > 8 and line == "  values:")
    assert (error.file, error.line) == ("pipelines/word-count/pipeline.yaml", values_line)
    assert error.message == (
        f"pipelines/word-count/pipeline.yaml:{values_line}: component 'word-counter' (streams-app): "
        "Field required: values.image"
    )


@pytest.mark.parametrize(
    ("label", "blamed"),
    [("  label: {}\n", "  label: {}"), ("", "strimzi_topic: {}")],
    ids=["empty-label", "no-label"],
)
def test_a_missing_config_key_names_the_config_file_and_line(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo, label: str, blamed: str
) -> None:
    deployment_repo.replace("config.yaml", "  label:\n    strimzi.io/cluster: kafka\n", label)
    opening = "strimzi_topic:\n" if label else "strimzi_topic: {}\n"
    deployment_repo.replace("config.yaml", "strimzi_topic:\n", "# Strimzi topics\n" + opening)
    deployment_repo.commit("no strimzi label")
    error = render(workspace, pool, deployment_repo, "word-count")["word-count"].error
    assert error is not None and error.kind == "config"
    lines = (deployment_repo.path / "config.yaml").read_text(encoding="utf-8").splitlines()
    assert error.file == "config.yaml"
    assert error.line == next(n for n, line in enumerate(lines, 1) if line == blamed)
    assert error.message.startswith(f"config.yaml:{error.line}: ")
    assert "strimzi_topic.label" in error.message


def test_helm_failure_names_the_component(workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo) -> None:
    deployment_repo.replace(
        "pipelines/word-count/pipeline.yaml",
        "  values:\n    image: bakdata/kpops-demo-word-count-app",
        "  version: 3.9.9\n  values:\n    image: bakdata/kpops-demo-word-count-app",
    )
    deployment_repo.commit("chart version that the repository does not have")
    error = render(workspace, pool, deployment_repo, "word-count")["word-count"].error
    assert error is not None and error.kind == "helm"
    assert error.component == "word-counter"
    assert 'chart "streams-app" matching "3.9.9" not found' in error.message


def test_unknown_pipeline_suggests_the_nearest(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo
) -> None:
    with pytest.raises(UnknownPipelineError, match="Did you mean 'word-count'"):
        render(workspace, pool, deployment_repo, "word-cuont")


def test_pipelines_are_also_found_by_folder(workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo) -> None:
    results = render(workspace, pool, deployment_repo, "team-a/orders", "pipelines/word-count/")
    assert sorted(results) == ["team-a-orders", "word-count"]


def test_only_allowed_variables_reach_kpops(
    workspace: Workspace, pool: RenderPool, deployment_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NAMESPACE would change kpops' config if it leaked; KPOPS_BOT_TEST_REGISTRY is on the allowlist.
    monkeypatch.setenv("NAMESPACE", "leaked")
    monkeypatch.setenv("KPOPS_BOT_TEST_REGISTRY", "registry.internal")
    monkeypatch.setenv("NOT_ALLOWED_TAG", "leaked-tag")
    deployment_repo.replace(
        "pipelines/word-count/pipeline.yaml",
        "image: bakdata/kpops-demo-word-count-app\n",
        "image: ${KPOPS_BOT_TEST_REGISTRY}/word-count-app\n",
    )
    deployment_repo.replace("pipelines/word-count/pipeline.yaml", "PRODUCTIVE: false", 'TAG: "${NOT_ALLOWED_TAG}"')
    deployment_repo.commit("variables")
    result = render(workspace, pool, deployment_repo, "word-count")["word-count"]
    assert result.ok, result.error
    container = manifests(result, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.internal/word-count-app:1.0.0"
    assert {"name": "APP_TAG", "value": "${NOT_ALLOWED_TAG}"} in container["env"]
    assert all("leaked" not in str(c.config) for c in result.components)


def test_a_render_past_its_timeout_is_killed_and_reported(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, workspace: Workspace
) -> None:
    deployment_repo.write("kpops/components/slow/__init__.py", "import time\n\ntime.sleep(600)\n")
    deployment_repo.commit("a custom component that never finishes importing")
    settings = engine_settings.model_copy(update={"render_timeout": 2.0})
    with RenderPool(settings) as slow_pool:
        result = render(workspace, slow_pool, deployment_repo, "word-count")["word-count"]
    assert result.error is not None and result.error.kind == "timeout"
    assert result.error.message == "pipelines/word-count/pipeline.yaml: kpops did not finish within 2 s"


def test_a_crashing_render_is_a_result(pool: RenderPool, deployment_repo: GitRepo) -> None:
    deployment_repo.write("kpops/components/crash/__init__.py", "import os\n\nos._exit(3)\n")
    request = RenderRequest("word-count", "pipelines/word-count/pipeline.yaml", deployment_repo.path, "HEAD")
    result = pool.render(request)
    assert result.error is not None and result.error.kind == "crash"
    assert "exit code 3" in result.error.message


def test_renders_do_not_share_state(pool: RenderPool, deployment_repo: GitRepo, tmp_path: Path) -> None:
    """The same pipeline path with different content, rendered in turn: kpops' YAML cache must not leak."""
    copies = []
    for replicas in (1, 5):
        checkout = tmp_path / f"copy-{replicas}"
        GitRepo.from_fixture(checkout, deployment_repo.path)
        text = (checkout / "pipelines/word-count/pipeline.yaml").read_text()
        (checkout / "pipelines/word-count/pipeline.yaml").write_text(
            text.replace("replicaCount: 2", f"replicaCount: {replicas}")
        )
        copies.append(checkout)
    results = pool.render_all(
        [RenderRequest("word-count", "pipelines/word-count/pipeline.yaml", checkout, "HEAD") for checkout in copies * 2]
    )
    assert [manifests(r, "Deployment")[0]["spec"]["replicas"] for r in results] == [1, 5, 1, 5]
    assert os.environ.get("KPOPS_OPERATION_MODE") is None
