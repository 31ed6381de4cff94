"""The sandbox where the bot's uid matters: the `uid` layer (a bot running as root in a container that refuses
namespaces), and the `namespaces` layer of a bot that does not run as root.

`uid`: each render runs as an unprivileged uid of its own, so it cannot read the bot's files or environment, and
its limits hold. Both need the bot's Python environment readable by other uids, as it is in a container image;
this machine's Python may live below a 0700 home, so the bot runs in a private mount namespace where that home is
traversable (`python_readable_by_others`); the bot itself gets no sandbox from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.helm.chart_server import ChartServer
from testbed.kpops_versions import KPOPS_EXAMPLES, versioned_charts
from testbed.repos import MIRROR_FROM, GitRepo
from tests.support.hostile import (
    Targets,
    listening,
    loot,
    make_hostile,
    planted_files,
    processes_with,
    python_readable_by_others,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="these tests start the bot as other uids, which needs them to run as root"
)
USER = 1000  # the bot's own uid in the non-root test
PROJECT = Path(__file__).resolve().parents[2]
INDEX_SETTINGS = ("UV_", "PIP_", "SSL_CERT_")  # the machine's package index and its TLS trust, for a build


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder other uids may enter (pytest's are 0700), for the workspace whose checkouts renders read."""
    folder = Path(tempfile.mkdtemp(prefix="kpops-bot-uid-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_under_the_uid_layer_a_hostile_component_reads_nothing_writes_nothing_leaves_nothing(
    tmp_path: Path, deployment_repo: GitRepo, chart_server: ChartServer, open_folder: Path
) -> None:
    secret = f"bot-secret-{uuid.uuid4().hex}"
    data = tmp_path / "bot-data"
    data.mkdir(mode=0o700)
    settings = data / "bot.yaml"
    settings.write_text(f"token: {secret}\n")
    workspace = open_folder / "workspace"
    with listening() as listener:
        targets = Targets(secret=secret, read=[settings], write=[data, open_folder, workspace], port=listener.port)
        make_hostile(deployment_repo, targets)
        env = {"PATH": os.environ["PATH"], "HOME": str(Path.home()), "KPOPS_BOT_GITHUB__TOKEN": secret}
        command = [sys.executable, "-m", "kpops_bot", "render", "--repo", str(deployment_repo.path)]
        command += ["--pipeline", "hostile", "--pipeline", "word-count", "--format", "json", "--sandbox", "uid"]
        command += ["--chart-mirror", f"{MIRROR_FROM}={chart_server.url}", "--workspace", str(workspace)]
        completed = subprocess.run(
            [*python_readable_by_others(), *command], env=env, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 0, completed.stderr
        assert processes_with(f"sleep {targets.sleep}") == []
    assert completed.stderr.splitlines()[0].startswith("sandbox: separate uid")
    pipelines = {render["name"]: render for render in json.loads(completed.stdout)["pipelines"]}
    assert pipelines["word-count"]["error"] is None
    got = loot(pipelines["hostile"])
    assert got["environ"] == [] and got["read"] == {} and got["written"] == []
    assert got["processes_started"] < 300 and got["allocated_6_gib"] is False
    assert planted_files(data, open_folder) == []
    # What this layer does not give: a network of its own. The render reached the port, with nothing to send.
    assert got["connected"] is True and set(listener.connections) == {b"connected"}


def test_a_bot_that_is_not_root_gets_namespaces_and_the_attack_fails(
    deployment_repo: GitRepo, chart_server: ChartServer, open_folder: Path
) -> None:
    secret = f"bot-secret-{uuid.uuid4().hex}"
    repo = GitRepo.from_fixture(open_folder / "repo", deployment_repo.path)
    data = open_folder / "bot-data"
    data.mkdir(mode=0o700)
    settings = data / "bot.yaml"
    settings.write_text(f"token: {secret}\n")
    settings.chmod(0o600)
    workspace = open_folder / "workspace"
    with listening() as listener:
        targets = Targets(secret=secret, read=[settings], write=[data, open_folder, workspace], port=listener.port)
        make_hostile(repo, targets)
        subprocess.run(["chown", "-R", f"{USER}:{USER}", str(open_folder)], check=True)
        env = {"PATH": os.environ["PATH"], "HOME": str(open_folder), "KPOPS_BOT_GITHUB__TOKEN": secret}
        command = ["setpriv", "--reuid", str(USER), "--regid", str(USER), "--clear-groups", sys.executable]
        command += ["-m", "kpops_bot", "render", "--repo", str(repo.path), "--format", "json"]
        command += ["--pipeline", "hostile", "--pipeline", "word-count", "--workspace", str(workspace)]
        command += ["--chart-mirror", f"{MIRROR_FROM}={chart_server.url}"]
        completed = subprocess.run(
            [*python_readable_by_others(), *command], env=env, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 0, completed.stderr
        assert processes_with(f"sleep {targets.sleep}") == []
        assert listener.connections == []
    assert completed.stderr.splitlines()[0] == "sandbox: namespaces (bubblewrap)"
    pipelines = {render["name"]: render for render in json.loads(completed.stdout)["pipelines"]}
    assert pipelines["word-count"]["error"] is None
    got = loot(pipelines["hostile"])
    assert got["environ"] == [] and got["read"] == {} and got["connected"] is False
    assert got["processes_started"] < 300 and got["allocated_6_gib"] is False
    assert planted_files(open_folder) == []


@pytest.mark.kpops  # builds kpops 8.1.4's environment and renders with it
def test_under_the_uid_layer_a_kpops_8_environment_in_the_private_data_folder_renders_and_reads_nothing(
    tmp_path: Path, open_folder: Path
) -> None:
    """The bot as a service with a strict umask: the environment of kpops 8.1.4 is built in its private data folder
    (0711), and renders of other uids run with it; the hostile component reaches none of the bot's files."""
    secret = f"bot-secret-{uuid.uuid4().hex}"
    repo = GitRepo.from_fixture(open_folder / "repo", KPOPS_EXAMPLES)  # pins kpops~=8.1.4
    data = open_folder / "bot-data"
    data.mkdir(mode=0o700)
    settings_file = data / "bot.yaml"
    settings_file.write_text(f"github:\n  token: {secret}\n")
    settings_file.chmod(0o600)
    with ChartServer(versioned_charts(tmp_path / "charts")) as charts, listening() as listener:
        targets = Targets(
            secret=secret, read=[settings_file, data / "kpops-bot.db"], write=[data, open_folder], port=listener.port
        )
        shutil.copy(KPOPS_EXAMPLES / "word-count" / "defaults.yaml", repo.path / "defaults.yaml")
        make_hostile(repo, targets)
        settings = {
            "data_dir": str(data),
            "sandbox": "uid",
            "helm": "builtin",
            "chart_mirrors": {MIRROR_FROM: charts.url},
            "variables": {"NAMESPACE": "kpops"},
            "public_variables": ["NAMESPACE"],
            "render_timeout": 120,
        }
        env = {"PATH": os.environ["PATH"], "HOME": str(Path.home()), "KPOPS_BOT_GITHUB__TOKEN": secret}
        env |= {name: value for name, value in os.environ.items() if name.startswith(INDEX_SETTINGS)}
        command = [sys.executable, "-m", "tests.support.bot_render", json.dumps(settings), str(settings_file)]
        completed = subprocess.run(
            [*python_readable_by_others(), *command, str(repo.path)],
            env=env,
            cwd=PROJECT,
            capture_output=True,
            text=True,
            check=False,
            umask=0o077,
        )
        assert completed.returncode == 0, completed.stderr
        assert processes_with(f"sleep {targets.sleep}") == []
    renders = {render["name"]: render for render in json.loads(completed.stdout)}
    assert renders["word-count"]["error"] is None
    assert {render["kpops_version"] for render in renders.values()} == {"8.1.4"}
    assert (data / "kpops-environments" / "kpops-8.1.4" / "bin" / "python").exists()
    got = loot(renders["pipelines-hostile"])  # kpops-examples has no pipeline_base_dir
    assert got["environ"] == [] and got["read"] == {} and got["written"] == []
    assert planted_files(data, open_folder) == []
