"""The intake channel against a hostile custom component: pull request code that finds the bot's local socket and
sends it a forged delivery would queue a job without any signature. It must not reach the socket in any layer but
`off` (where the same attack succeeds, which shows what `off` gives up).

The channel runs as `kpops-bot serve` runs it with intake processes: a real store behind it, in the folder
`run_folder()` makes; the renders are real `kpops-bot render` runs of the hostile component.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.server.intake import LocalIntake
from kpops_bot.server.intake_channel import ChannelServer
from kpops_bot.server.intake_log import IntakeLog
from kpops_bot.server.intake_process import CHANNEL
from kpops_bot.server.intake_processes import run_folder
from kpops_bot.store import Store
from testbed.repos import MIRROR_FROM, GitRepo
from tests.support.hostile import Targets, listening, loot, make_hostile, python_readable_by_others


@contextmanager
def _channel(store: Store) -> Iterator[Path]:
    """The bot's intake channel, served on an event loop of its own; its socket's path."""
    folder = run_folder()
    loop = asyncio.new_event_loop()
    server = ChannelServer(folder / CHANNEL, LocalIntake(store, IntakeLog()))
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield folder / CHANNEL
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("layer", ["namespaces", "uid", "off"])
def test_pull_request_code_cannot_queue_a_job_through_the_intake_channel(
    tmp_path: Path, deployment_repo: GitRepo, chart_server: ChartServer, layer: str
) -> None:
    if layer == "uid" and os.geteuid() != 0:
        pytest.skip("the uid layer starts renders as other uids, which needs the tests to run as root")
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    workspace = Path(tempfile.mkdtemp(prefix="kpops-bot-channel-test-"))  # other uids read checkouts below it
    workspace.chmod(0o755)
    try:
        with _channel(store) as channel, listening() as listener:
            targets = Targets(secret=uuid.uuid4().hex, read=[], write=[], port=listener.port, unix=[channel])
            make_hostile(deployment_repo, targets)
            command = [sys.executable, "-m", "kpops_bot", "render", "--repo", str(deployment_repo.path)]
            command += ["--pipeline", "hostile", "--format", "json", "--sandbox", layer]
            command += ["--chart-mirror", f"{MIRROR_FROM}={chart_server.url}", "--workspace", str(workspace / "ws")]
            prefix = python_readable_by_others() if layer == "uid" else []
            completed = subprocess.run(
                [*prefix, *command],
                env={"PATH": os.environ["PATH"], "HOME": str(Path.home())},
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
        assert completed.returncode == 0, completed.stderr
        got = loot(json.loads(completed.stdout)["pipelines"][0])
        forged = [job for job in store.jobs() if job.key == "forged"]
        if layer == "off":
            assert got["channels_reached"] == [str(channel)]
            assert len(forged) == 1
        else:
            assert got["channels_reached"] == []
            assert forged == []
            assert store.delivery_count() == 0
    finally:
        store.close()
        shutil.rmtree(workspace, ignore_errors=True)
