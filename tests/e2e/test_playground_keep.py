"""`kpops-bot playground --keep --port N`: the playground stays up on known ports for a newcomer's own webhooks and
pages, says where everything is, refuses a taken port by name, and removes everything on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kpops_bot.playground.stage import BOT_LOGIN, BOT_TOKEN, FULL_NAME
from testbed.playground import KPOPS_BOT, START_SECONDS, Lines, kept_playground, three_free_ports

pytestmark = [pytest.mark.bot_process]
Kept = tuple[subprocess.Popen[str], Lines, int]


@pytest.fixture
def kept() -> Iterator[Kept]:
    port = three_free_ports()
    command = [str(KPOPS_BOT), "playground", "--keep", "--no-story", "--port", str(port), "--sandbox", "off"]
    with kept_playground(command) as (process, lines):
        yield process, lines, port


def test_the_kept_playground_answers_on_its_ports_and_stops_clean(
    kept: Kept,
) -> None:
    process, lines, port = kept
    said = "".join(lines.seen)
    bot, github = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    assert f"{bot}/webhooks/github" in said
    status_url = re.search(r"the status page\s+(\S+)", said)
    assert status_url is not None and status_url.group(1).startswith(f"{bot}/status?token=")
    folder = re.search(r"SQLite in (\S+);", said)
    assert folder is not None and Path(folder.group(1)).is_dir()

    assert httpx.get(f"{bot}/healthz", timeout=10).status_code == 200
    with httpx.Client(timeout=10, follow_redirects=True) as browser:  # the token moves into a cookie
        page = browser.get(status_url.group(1))
    assert page.status_code == 200 and "kpops-bot status" in page.text
    api = re.search(r"GitHub stand-in \(REST API\) (\S+)", said)
    assert api is not None and api.group(1).startswith(github)
    headers = {"Authorization": f"token {BOT_TOKEN}"}
    assert httpx.get(f"{api.group(1)}/user", headers=headers, timeout=10).json()["login"] == BOT_LOGIN
    assert httpx.get(f"{api.group(1)}/repos/{FULL_NAME}/pulls", headers=headers, timeout=10).json() == []
    clone = f"http://x-access-token:{BOT_TOKEN}@127.0.0.1:{port + 1}/{FULL_NAME}.git"
    assert f"git clone {clone}" in said
    remote = subprocess.run(["git", "ls-remote", clone, "main"], capture_output=True, text=True, check=False)
    assert remote.returncode == 0 and remote.stdout.endswith("\trefs/heads/main\n"), remote.stderr

    taken = subprocess.run(
        [str(KPOPS_BOT), "playground", "--no-story", "--port", str(port), "--sandbox", "off"],
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        check=False,
    )
    assert taken.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in taken.stderr

    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert "everything stopped" in lines.rest(timeout=10)
    assert not Path(folder.group(1)).exists()
