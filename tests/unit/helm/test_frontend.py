"""The built-in helm against a real chart repository served on loopback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from kpops_bot.helm import executable, frontend, service
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.helm.mirrors import MIRRORS_ENV
from kpops_bot.helm.repositories import CHART_CACHE_ENV

UPSTREAM = "https://bakdata.github.io/streams-bootstrap/"


@pytest.fixture
def helm_env(tmp_path: Path, chart_server: ChartServer) -> dict[str, str]:
    return {
        "HOME": str(tmp_path),
        "HELM_REPOSITORY_CONFIG": str(tmp_path / "config" / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(tmp_path / "cache"),
        MIRRORS_ENV: json.dumps({"bakdata-streams-bootstrap": chart_server.url}),
        CHART_CACHE_ENV: str(tmp_path / "charts"),
    }


def values_file(tmp_path: Path, values: dict[str, object]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_version_is_helm_shaped() -> None:
    outcome = frontend.run(["version", "--short"], {})
    assert outcome.returncode == 0
    assert outcome.stdout.startswith("v4.")


def test_repo_add_applies_the_mirror_and_template_renders_from_it(helm_env: dict[str, str], tmp_path: Path) -> None:
    added = frontend.run(["repo", "add", "bakdata-streams-bootstrap", UPSTREAM], helm_env)
    assert (added.returncode, added.stderr) == (0, "")
    assert added.stdout == '"bakdata-streams-bootstrap" has been added to your repositories\n'
    stored = yaml.safe_load(Path(helm_env["HELM_REPOSITORY_CONFIG"]).read_text())
    assert stored["repositories"][0]["url"] == json.loads(helm_env[MIRRORS_ENV])["bakdata-streams-bootstrap"]

    updated = frontend.run(["repo", "update", "bakdata-streams-bootstrap"], helm_env)
    assert updated.returncode == 0
    assert 'Successfully got an update from the "bakdata-streams-bootstrap" chart repository' in updated.stdout

    values = {"image": "word-counter", "replicaCount": 4, "kafka": {"bootstrapServers": "k:9092"}}
    command = ["template", "wc", "bakdata-streams-bootstrap/streams-app", "--namespace", "ns", "--values"]
    outcome = frontend.run([*command, values_file(tmp_path, values), "--version", "3.6.1"], helm_env)
    assert outcome.returncode == 0, outcome.stderr
    documents = list(yaml.safe_load_all(outcome.stdout))
    deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 4
    assert deployment["metadata"]["name"] == "wc-streams-app"
    assert "# Source: streams-app/templates/deployment.yaml" in outcome.stdout
    assert list((tmp_path / "charts").glob("*.tgz")), "the chart archive is kept in the shared cache"


def test_global_flags_kpops_appends_are_accepted(helm_env: dict[str, str], tmp_path: Path) -> None:
    added = frontend.run(["repo", "add", "bakdata-streams-bootstrap", UPSTREAM, "--kube-context", "dev"], helm_env)
    assert added.returncode == 0, added.stderr
    values = values_file(tmp_path, {"image": "i"})
    template = ["template", "r", "bakdata-streams-bootstrap/producer-app", "--values", values, "--version", "3.6.1"]
    outcome = frontend.run([*template, "--kube-context", "dev", "--debug"], helm_env)
    assert outcome.returncode == 0, outcome.stderr
    assert "kind: Job" in outcome.stdout


def test_adding_the_same_repository_twice_is_skipped(helm_env: dict[str, str]) -> None:
    mirror = json.loads(helm_env[MIRRORS_ENV])["bakdata-streams-bootstrap"]
    helm_env = {**helm_env, MIRRORS_ENV: json.dumps({"sb": mirror})}
    first = frontend.run(["repo", "add", "sb", UPSTREAM], helm_env)
    assert first.returncode == 0, first.stderr
    again = frontend.run(["repo", "add", "sb", UPSTREAM], helm_env)
    assert again.returncode == 0
    assert "already exists with the same configuration, skipping" in again.stdout


def test_a_name_taken_by_another_url_is_the_error_kpops_expects(helm_env: dict[str, str]) -> None:
    frontend.run(["repo", "add", "bakdata-streams-bootstrap", UPSTREAM], helm_env)
    other = frontend.run(
        ["repo", "add", "bakdata-streams-bootstrap", "http://127.0.0.1:1/"], {**helm_env, MIRRORS_ENV: ""}
    )
    assert other.returncode == 1
    assert other.stderr == (
        "Error: repository name (bakdata-streams-bootstrap) already exists, please specify a different name\n"
    )


def test_unreachable_repository(helm_env: dict[str, str]) -> None:
    outcome = frontend.run(["repo", "add", "nowhere", "http://127.0.0.1:1/"], helm_env)
    assert outcome.returncode == 1
    assert outcome.stderr.startswith('Error: looks like "http://127.0.0.1:1/" is not a valid chart repository')


def test_unknown_chart_version(helm_env: dict[str, str], tmp_path: Path) -> None:
    frontend.run(["repo", "add", "bakdata-streams-bootstrap", UPSTREAM], helm_env)
    values = values_file(tmp_path, {})
    outcome = frontend.run(
        ["template", "r", "bakdata-streams-bootstrap/streams-app", "--values", values, "--version", "9.9.9"], helm_env
    )
    assert outcome.returncode == 1
    assert 'chart "streams-app" matching "9.9.9" not found in bakdata-streams-bootstrap index' in outcome.stderr


def test_unknown_repository_and_unsupported_commands(helm_env: dict[str, str]) -> None:
    missing = frontend.run(["template", "r", "nope/app"], helm_env)
    assert (missing.returncode, missing.stderr) == (1, "Error: repo nope not found\n")
    upgrade = frontend.run(["upgrade", "r", "nope/app", "--install"], helm_env)
    assert upgrade.returncode == 1
    assert "only renders charts" in upgrade.stderr
    usage = frontend.run(["template"], helm_env)
    assert usage.returncode == 1
    assert usage.stderr.startswith("Error: ")


def test_update_without_repositories(helm_env: dict[str, str]) -> None:
    outcome = frontend.run(["repo", "update"], helm_env)
    assert outcome.stderr == "Error: no repositories found. You must add one before updating\n"


def test_local_chart_folder(helm_env: dict[str, str], tmp_path: Path) -> None:
    chart = Path(__file__).resolve().parents[3] / "fixtures" / "charts" / "producer-app"
    outcome = frontend.run(["template", "p", str(chart), "--values", values_file(tmp_path, {"image": "i"})], helm_env)
    assert outcome.returncode == 0, outcome.stderr
    assert [doc["kind"] for doc in yaml.safe_load_all(outcome.stdout)] == ["Job"]


def test_executable_forwards_to_the_helm_service(helm_env: dict[str, str], tmp_path: Path) -> None:
    socket_path = str(tmp_path / "helm.sock")
    key = service.new_key()
    process = service.start(socket_path, {"PATH": os.environ["PATH"]}, key)
    try:
        grant = service.Grant(env=helm_env, files=[str(tmp_path)], charts=[], cwd=str(tmp_path))
        env = {
            "PATH": os.environ["PATH"],
            service.HELM_SOCKET_ENV: socket_path,
            service.HELM_GRANT_ENV: grant.sign(key),
        }
        helm = [str(executable.install(tmp_path / "bin"))]
        added = subprocess.run(
            [*helm, "repo", "add", "bakdata-streams-bootstrap", UPSTREAM],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (added.returncode, added.stdout) == (
            0,
            '"bakdata-streams-bootstrap" has been added to your repositories\n',
        )
        failed = subprocess.run(
            [*helm, "template", "r", "nope/app"], env=env, capture_output=True, text=True, check=False
        )
        assert (failed.returncode, failed.stdout, failed.stderr) == (1, "", "Error: repo nope not found\n")
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)
    assert not Path(socket_path).exists()
