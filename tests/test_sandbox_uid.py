"""The `uid` layer, for machines that refuse namespaces (a default Docker container): each render runs as an
unprivileged uid of its own, so it cannot read the bot's files or environment, and its limits hold.

The layer needs the bot to run as root, and the bot's Python environment readable by other uids, as it is in a
container image. This machine's Python lives below /root (mode 0700), so the test runs the bot in a private
mount namespace where /root is traversable; the bot itself runs with `--sandbox uid` and no sandbox of its own.
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
from tests.helpers import MIRROR_FROM, GitRepo
from tests.support.hostile import Targets, listening, loot, make_hostile, planted_files, processes_with

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the uid layer starts renders as other uids, which needs the tests to run as root"
)


def python_readable_by_others() -> list[str]:
    """A command prefix under which the bot's Python environment is readable by other uids."""
    home = Path.home()
    python = Path(sys.executable).resolve()
    if not python.is_relative_to(home) or home.stat().st_mode & 0o005:
        return []
    inside = python.relative_to(home).parts[0]
    script = (
        'set -e; stash=$(mktemp -d); mount --bind "$1/$2" "$stash"; '
        'mount -t tmpfs -o mode=0755 tmpfs "$1"; mkdir "$1/$2"; mount --move "$stash" "$1/$2"; '
        'shift 2; exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(home), inside]


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
