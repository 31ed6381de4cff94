"""The container image (Dockerfile) built and run for real: what a platform team pulls must serve, render and keep
pull-request code in its sandbox.

The image is built on a base made from Debian's packages (`scripts/docker-base`), since no registry is reachable
here; the Dockerfile's default base is the public Python image a real user pulls. A Docker daemon is started when
none runs (as root, which `scripts/setup` prepares), shared with test sessions that run at the same time
(tests/support/docker.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kpops_bot.helm.chart_server import ChartServer
from testbed.repos import MIRROR_FROM, GitRepo
from tests.support import docker

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "kpops-bot-base:trixie"
# What the namespaces layer needs from Docker (the README's security model says why).
SANDBOX_OPTIONS = ["--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined"]
IMAGE_UID = 10001
# Bounds for a busy machine, where building the base and the image takes minutes; pytest counts both builds (the
# module's fixtures) in the first test's time, hence the module's bound above pyproject's 600 s.
BUILD_SECONDS = 1800
START_SECONDS = 180
pytestmark = pytest.mark.timeout(2 * BUILD_SECONDS + 600)


def _docker(*args: str, timeout: float = 600) -> str:
    completed = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if completed.returncode != 0:
        msg = f"docker {' '.join(args[:3])} failed ({completed.returncode}): {completed.stderr[-3000:]}"
        raise AssertionError(msg)
    return completed.stdout


@pytest.fixture(scope="module")
def docker_daemon() -> Iterator[None]:
    if shutil.which("docker") is None:
        pytest.skip("no docker client: scripts/setup installs docker.io when run as root")
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        if not docker.answers():
            pytest.skip("no Docker daemon runs and this user cannot start one (needs root and dockerd)")
        yield  # the machine's daemon, which no test starts or stops
        return
    with docker.shared_daemon():
        yield


def _pip_cert() -> Path | None:
    """The CA bundle pip is configured with here (an intercepting proxy's), for pip inside the build."""
    configured = (
        os.environ.get("PIP_CERT")
        or subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "-m", "pip", "config", "get", "global.cert"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    )
    return Path(configured) if configured and Path(configured).is_file() else None


@pytest.fixture(scope="module")
def image(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is missing: scripts/setup installs it when run as root")
    subprocess.run([str(ROOT / "scripts" / "docker-base"), BASE_IMAGE], check=True, timeout=BUILD_SECONDS)
    context = tmp_path_factory.mktemp("build-context")
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, context / name)
    for folder in ("kpops_bot", "webhooks", "fixtures/deployment-repo", "fixtures/charts"):
        shutil.copytree(ROOT / folder, context / folder, ignore=shutil.ignore_patterns("__pycache__"))
    cert = _pip_cert()
    if cert is not None:
        shutil.copy(cert, context / "pip-cert.pem")
    # A tag of this run's own (others may build kpops-bot:test at the same time), also tagged kpops-bot:test.
    tag = f"kpops-bot:test-{uuid.uuid4().hex[:8]}"
    build = ["build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", tag, str(context)]
    _docker(*build, timeout=BUILD_SECONDS)
    _docker("tag", tag, "kpops-bot:test")
    yield tag
    subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(image: str) -> Iterator[str]:
    port = _free_port()
    name = f"kpops-bot-test-{uuid.uuid4().hex[:8]}"
    _docker(
        "run", "-d", "--name", name, "--network", "host", *SANDBOX_OPTIONS,
        "-e", f"KPOPS_BOT_PORT={port}", "-e", "KPOPS_BOT_INSECURE_SKIP_SIGNATURE=true",
        # serve refuses to start without forge credentials; this forge is never reached (its check logs a warning)
        "-e", "KPOPS_BOT_GITHUB__TOKEN=a-token-never-sent",
        "-e", f"KPOPS_BOT_GITHUB__API_URL=http://127.0.0.1:{_free_port()}/api/v3", image,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _healthy(f"http://127.0.0.1:{port}"):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the bot did not answer /healthz within {START_SECONDS} s: {_docker('logs', name)[-3000:]}"
                )
            time.sleep(0.5)
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_serves_health_and_readiness_as_a_non_root_user(server: str) -> None:
    port = next(
        line.split("=", 1)[1]
        for line in json.loads(_docker("inspect", server))[0]["Config"]["Env"]
        if line.startswith("KPOPS_BOT_PORT=")
    )
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "sandbox": "namespaces"}  # the strongest layer, with SANDBOX_OPTIONS
    users = {line.split()[1] for line in _docker("top", server, "-o", "pid,uid,comm").splitlines()[1:]}
    assert users == {str(IMAGE_UID)}, f"processes of the bot run as {users}"


def test_renders_the_fixture_repository_inside(image: str, tmp_path: Path, chart_server: ChartServer) -> None:
    repo = GitRepo.from_fixture(tmp_path / "repo")
    subprocess.run(["chown", "-R", f"{IMAGE_UID}:{IMAGE_UID}", str(repo.path)], check=True)
    completed = subprocess.run(
        [
            "docker", "run", "--rm", "--network", "host", *SANDBOX_OPTIONS, "-v", f"{repo.path}:/repo:ro", image,
            "render", "--repo", "/repo", "--rev", "main", "--pipeline", "word-count",
            "--chart-mirror", f"{MIRROR_FROM}={chart_server.url}", "--format", "json",
        ],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    (pipeline,) = json.loads(completed.stdout)["pipelines"]
    assert pipeline["error"] is None
    kinds = {component["name"]: [m["kind"] for m in component["manifests"]] for component in pipeline["components"]}
    assert kinds == {
        "data-producer": ["Job", "KafkaTopic"],
        "word-counter": ["Deployment", "KafkaTopic", "KafkaTopic"],
        "redis-sink-connector": [],
    }


def test_plays_the_playground_from_the_installed_package(image: str) -> None:
    """The examples reach an installed package: the image holds a wheel's install, no checkout."""
    completed = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", *SANDBOX_OPTIONS, image, "playground"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "sandbox: namespaces (bubblewrap)" in completed.stdout.splitlines()[0]
    assert "Traceback" not in completed.stderr
    assert "    kpops-bot: apply #1 (" in completed.stdout
    assert "rendered/dev/word-count/kustomization.yaml" in completed.stdout
