"""`kpops-bot render` and `kpops-bot charts serve` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from kpops_bot.cli import main
from kpops_bot.helm.chart_server import ChartServer
from testbed.repos import CHARTS, MIRROR_FROM, GitRepo


def kpops_bot(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KPOPS_BOT_HELM": "builtin"}
    return subprocess.run(
        [sys.executable, "-m", "kpops_bot", *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


def invoke(*args: str) -> Result:
    """The command line in this process (click's runner): for what ends before a render process is started."""
    return CliRunner().invoke(main, list(args), env={"KPOPS_BOT_HELM": "builtin"})


@pytest.fixture
def render_args(deployment_repo: GitRepo, chart_server: ChartServer, tmp_path: Path) -> list[str]:
    return [
        "render",
        "--repo",
        deployment_repo.path.as_uri(),
        "--chart-mirror",
        f"{MIRROR_FROM}={chart_server.url}",
        "--workspace",
        str(tmp_path / "workspace"),
    ]


def test_render_refuses_an_unknown_environment(render_args: list[str]) -> None:
    result = invoke(*render_args, "--environment", "staging")
    assert result.exit_code == 2, result.output
    assert "unknown environment 'staging'. Environments at this revision: dev, prod" in result.stderr


def test_json_output_has_the_documented_shape(render_args: list[str]) -> None:
    completed = kpops_bot(*render_args, "--rev", "main", "--pipeline", "word-count", "--format", "json")
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    (pipeline,) = document["pipelines"]
    assert set(pipeline) >= {"name", "revision", "environment", "mode", "operation", "error", "components"}
    assert (pipeline["name"], pipeline["mode"], pipeline["operation"], pipeline["error"]) == (
        "word-count",
        "manifest",
        "deploy",
        None,
    )
    assert len(pipeline["revision"]) == 40
    for component in pipeline["components"]:
        assert set(component) == {"name", "type", "config", "manifests"}
    assert re.search(r"\[1/1\] word-count @ [0-9a-f]{12}: ok", completed.stderr)


def test_render_with_strimzi_prints_a_kafka_connector_without_the_literal_secret(render_args: list[str]) -> None:
    args = [*render_args, "--pipeline", "word-count", "--connectors", "strimzi", "--connect-cluster", "my-connect"]
    completed = kpops_bot(*args, "--mode", "manifest")
    assert completed.returncode == 0, completed.stderr
    (pipeline,) = yaml.safe_load(completed.stdout)["pipelines"]
    (sink,) = [c for c in pipeline["components"] if c["name"] == "redis-sink-connector"]
    [connector] = sink["manifests"]
    assert connector["kind"] == "KafkaConnector" and connector["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert connector["spec"]["class"] == "com.github.jcustenborder.kafka.connect.redis.RedisSinkConnector"
    assert connector["metadata"]["labels"] == {"strimzi.io/cluster": "my-connect"}
    assert "changeme-in-vault" not in yaml.safe_dump(connector)
    assert any("`connection.password` holds a literal secret" in note for note in pipeline["notes"])
    # Without --connectors, kpops' own output: no manifest for the connector.
    plain = yaml.safe_load(kpops_bot(*render_args, "--pipeline", "word-count").stdout)["pipelines"][0]
    assert next(c for c in plain["components"] if c["name"] == "redis-sink-connector")["manifests"] == []


def test_yaml_output_with_environment_and_operation(render_args: list[str]) -> None:
    completed = kpops_bot(*render_args, "--environment", "dev", "--operation", "destroy", "--mode", "argo")
    assert completed.returncode == 0, completed.stderr
    document = yaml.safe_load(completed.stdout)
    assert len(document["pipelines"]) == 4
    assert {p["environment"] for p in document["pipelines"]} == {"dev"}
    kinds = {m["kind"] for p in document["pipelines"] for c in p["components"] for m in c["manifests"]}
    assert kinds == {"KafkaTopic"}


def test_a_failing_pipeline_exits_1_and_still_prints_the_others(
    render_args: list[str], deployment_repo: GitRepo
) -> None:
    deployment_repo.write("pipelines/team-a/orders/pipeline.yaml", "- type: producer-app\n  name: [\n")
    deployment_repo.commit("broken")
    completed = kpops_bot(*render_args, "--format", "json")
    assert completed.returncode == 1
    pipelines = {p["name"]: p for p in json.loads(completed.stdout)["pipelines"]}
    assert pipelines["team-a-orders"]["error"]["message"].startswith("pipelines/team-a/orders/pipeline.yaml:")
    assert pipelines["word-count"]["error"] is None
    assert re.search(
        r"team-a-orders @ [0-9a-f]{12}: failed: pipelines/team-a/orders/pipeline.yaml:3:", completed.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pipeline", "wordcount"], "Did you mean 'word-count'"),
        (["--rev", "no-such-branch"], "revision 'no-such-branch' not found"),
        (["--chart-mirror", "nonsense"], "is not FROM=TO"),
        (["--mode", "managed"], "Invalid value for '--mode'"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(render_args: list[str], args: list[str], message: str) -> None:
    result = invoke(*render_args, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.bot_process
def test_charts_serve_is_a_helm_repository(tmp_path: Path) -> None:
    with ChartServer(CHARTS) as probe:
        port = int(probe.url.rsplit(":", 1)[1].strip("/"))
    process = subprocess.Popen(
        [sys.executable, "-m", "kpops_bot", "charts", "serve", str(CHARTS), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert "Serving" in process.stderr.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.yaml", timeout=10) as response:
            index = yaml.safe_load(response.read())
        assert set(index["entries"]) == {
            "producer-app",
            "producer-app-cleanup-job",
            "streams-app",
            "streams-app-cleanup-job",
        }
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_charts_serve_refuses_a_folder_without_charts(tmp_path: Path) -> None:
    result = invoke("charts", "serve", str(tmp_path), "--port", "0")
    assert result.exit_code == 2
    assert "holds no chart" in result.stderr


@pytest.mark.subprocess  # a fresh interpreter
def test_the_command_line_loads_no_server_kpops_git_or_diff_until_a_command_runs() -> None:
    probe = (
        "import sys, kpops_bot.cli; "
        "heavy = ('kpops', 'git', 'kpops_bot.server', 'kpops_bot.diff', 'kpops_bot.engine.pool', 'pydantic', 'yaml'); "
        "print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
    assert invoke("--help").exit_code == 0


@pytest.mark.subprocess  # a fresh interpreter
def test_a_diff_loads_deepdiff_only_for_a_tree_that_is_not_json() -> None:
    """Its import was a quarter of a second of a one-shot diff's start; JSON trees are diffed without it."""
    probe = (
        "import sys; from kpops_bot.diff.tree_diff import tree_changes; "
        "tree_changes({'a': [1, {'b': 'x'}]}, {'a': [2, {'b': 'y'}], 'c': None}); print('deepdiff' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"
