"""`kpops-bot diff` as a user runs it: exit codes, formats, masking, a relative workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kpops_bot.engine.cache import RenderCache
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.report.identity import MARKER
from testbed.repos import MIRROR_FROM, GitRepo
from tests.unit.test_cli import invoke, kpops_bot

WORD_COUNT = "pipelines/word-count/pipeline.yaml"


@pytest.fixture
def feature(deployment_repo: GitRepo) -> GitRepo:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    return deployment_repo


def diff_args(repo: GitRepo, chart_server: ChartServer, workspace: str) -> list[str]:
    return [
        "diff",
        "--repo",
        str(repo.path),
        "--base",
        "main",
        "--head",
        "feature",
        "--chart-mirror",
        f"{MIRROR_FROM}={chart_server.url}",
        "--workspace",
        workspace,
    ]


def test_markdown_report_with_held_secrets_masked_and_a_relative_workspace(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    feature.replace(
        WORD_COUNT, "redis.database: 0", 'redis.database: 0\n    connection.url: "redis://:${REDIS_PASSWORD}@redis"'
    )
    feature.commit("Connect with a password")
    args = diff_args(feature, chart_server, "relative-workspace")
    completed = kpops_bot(*args, "--var", "REDIS_PASSWORD=held-by-the-bot-42", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"{MARKER} part 1/1 -->")
    assert "`redis://:***@redis`" in completed.stdout
    assert "held-by-the-bot-42" not in completed.stdout + completed.stderr
    assert (tmp_path / "relative-workspace" / "render-cache").is_dir()


def test_a_failed_pipeline_exits_1_and_json_still_reports_the_rest(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    feature.write("pipelines/team-a/orders/pipeline.yaml", "- type: no-such-component\n  name: x\n")
    feature.commit("One good, one bad")
    completed = kpops_bot(*diff_args(feature, chart_server, str(tmp_path / "ws")), "--format", "json")
    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.count("\n") == 1, "compact: written by Python's C encoder"
    document = json.loads(completed.stdout)
    statuses = {p["name"]: p["status"] for p in document["pipelines"]}
    assert statuses == {"team-a-orders": "error", "word-count": "changed"}
    assert "no-such-component" in document["pipelines"][0]["error"]["message"]


def test_split_for_github_marks_every_part(feature: GitRepo, chart_server: ChartServer, tmp_path: Path) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    feature.commit("Scale")
    completed = kpops_bot(*diff_args(feature, chart_server, str(tmp_path / "ws")), "--split-for", "github")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.count(MARKER) == 1
    assert "+  replicas: 5" in completed.stdout


def test_without_strimzi_the_report_says_manifest_mode_does_not_apply_a_connector_change(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    feature.replace(WORD_COUNT, "tasks.max: 1", "tasks.max: 2")
    feature.commit("Two tasks")
    args = diff_args(feature, chart_server, str(tmp_path / "ws"))
    markdown = kpops_bot(*args)
    assert markdown.returncode == 0, markdown.stderr
    not_deployed = (
        "not deployed in manifest mode: `redis-sink-connector` (kafka-sink-connector) — kpops renders no manifest "
        "for connectors; set `connectors: strimzi` to deploy it as a KafkaConnector"
    )
    assert f"- ⚠️ **warning** · `word-count`: changed, but {not_deployed}" in markdown.stdout
    assert f"- ⏸️ {not_deployed}" in markdown.stdout
    document = json.loads(kpops_bot(*args, "--format", "json").stdout)
    sink = next(c for c in document["pipelines"][0]["components"] if c["name"] == "redis-sink-connector")
    assert (sink["applied"], sink["reason"]) == (False, not_deployed)

    strimzi = kpops_bot(*args, "--connectors", "strimzi", "--connect-cluster", "my-connect", "--format", "json")
    assert strimzi.returncode == 3, strimzi.stderr  # the literal password is a danger: the report blocks
    (pipeline,) = json.loads(strimzi.stdout)["pipelines"]
    sink = next(c for c in pipeline["components"] if c["name"] == "redis-sink-connector")
    assert (sink["applied"], sink["reason"]) == (True, None)
    [resource] = sink["resources"]
    assert (resource["kind"], resource["status"]) == ("KafkaConnector", "changed")
    assert "+  tasksMax: 2" in resource["diff"]
    assert [risk["code"] for risk in pipeline["risks"]] == ["connector-secret-literal"]  # the fixture's password
    assert "changeme-in-vault" not in strimzi.stdout + strimzi.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--connectors", "strimzi"], "connectors: strimzi needs connect_cluster"),
        (["--connectors", "strimzi", "--connect-cluster", "My_Connect"], "is not a Kubernetes name"),
        (["--head", "no-such-branch"], "revision 'no-such-branch' not found"),
        (["--pipeline", "word-cont"], "Did you mean 'word-count'?"),
        (["--chart-mirror", "nonsense"], "--chart-mirror"),
        (["--format", "html"], "--format"),
    ],
)
def test_usage_errors_exit_2(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path, extra: list[str], message: str
) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    feature.commit("Scale")
    result = invoke(*diff_args(feature, chart_server, str(tmp_path / "ws")), *extra)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_leaves_the_render_cache_under_its_bound(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    feature.commit("Scale")
    cache = tmp_path / "cache"
    args = [*diff_args(feature, chart_server, str(tmp_path / "ws")), "--cache-dir", str(cache), "--format", "json"]
    assert kpops_bot(*args).returncode == 0  # renders both sides into the cache
    ours = {path.name for path in cache.glob("*/*.json")}
    earlier = cache / "ea"  # what runs with a larger bound left, used long ago: 3 MiB
    earlier.mkdir(exist_ok=True)
    for number in range(3):
        entry = earlier / f"earlier-{number}.json"
        entry.write_bytes(b"x" * 1024 * 1024)
        os.utime(entry, (1_000_000_000, 1_000_000_000))
    monkeypatch.setenv("KPOPS_BOT_RENDER_CACHE_MB", "1")
    completed = kpops_bot(*args)  # every render a hit: nothing written that would prune on the way
    assert completed.returncode == 0, completed.stderr
    assert RenderCache(cache).size() <= 1024 * 1024
    assert not list(earlier.iterdir())
    assert {path.name for path in cache.glob("*/*.json")} == ours


def test_a_partition_decrease_blocks_under_fail_on_danger_and_never_passes(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    feature.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 2")
    feature.commit("Fewer partitions")
    args = [*diff_args(feature, chart_server, str(tmp_path / "ws")), "--format", "json"]
    blocked = kpops_bot(*args, "--fail-on", "danger")
    assert blocked.returncode == 3, blocked.stderr
    document = json.loads(blocked.stdout)
    assert [risk["code"] for risk in document["pipelines"][0]["risks"]] == ["partitions-decreased"]
    assert document["summary"]["blocking"] is True
    assert kpops_bot(*args).returncode == 3, "the settings' blocking_risks (danger) by default"
    allowed = kpops_bot(*args, "--fail-on", "never")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["summary"]["blocking"] is False, "the report says what the exit code says"


def test_fail_on_notice_blocks_a_partition_increase_that_danger_lets_pass(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    feature.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    feature.commit("More partitions")
    args = [*diff_args(feature, chart_server, str(tmp_path / "ws")), "--format", "json"]
    assert kpops_bot(*args, "--fail-on", "danger").returncode == 0
    assert kpops_bot(*args, "--fail-on", "warning").returncode == 0
    assert kpops_bot(*args, "--fail-on", "notice").returncode == 3


def test_an_unknown_environment_is_a_usage_error_naming_the_known_ones(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    feature.commit("Scale")
    result = invoke(*diff_args(feature, chart_server, str(tmp_path / "ws")), "--environment", "prdo")
    assert result.exit_code == 2, result.output
    assert "unknown environment 'prdo'. Did you mean 'prod'? Environments at this revision: dev, prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_uncommitted_changes_of_a_local_repository_are_named_as_left_out(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    feature.commit("Scale")
    feature.replace(WORD_COUNT, "replicaCount: 5", "replicaCount: 9")  # not committed
    args = [*diff_args(feature, chart_server, str(tmp_path / "ws")), "--format", "json"]
    completed = kpops_bot(*args)
    assert completed.returncode == 0, completed.stderr
    note = f"Note: {feature.path} has 1 uncommitted change(s); they are not part of the render"
    assert note in completed.stderr
    assert "replicas: 5" in completed.stdout and "replicas: 9" not in completed.stdout
    feature.commit("Scale further")
    assert "uncommitted" not in kpops_bot(*args).stderr
