"""`kpops-bot diff` as a user runs it: exit codes, formats, masking, a relative workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kpops_bot.engine.cache import RenderCache
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.report.identity import MARKER
from tests.helpers import MIRROR_FROM, GitRepo
from tests.test_cli import invoke, kpops_bot

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
    assert strimzi.returncode == 0, strimzi.stderr
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
