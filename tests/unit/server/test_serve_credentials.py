"""`serve` and the forge credentials: none at all refuses to start; at start, one line per forge says whose
credentials the forge accepted, or which are missing or refused, in the forge's own words and with the URL."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.playground.asgi_server import free_port
from kpops_bot.server.bot import Bot
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from testbed.forges import FAST_RETRIES, RunningForge, running_github
from testbed.harness import wait_for
from testbed.repos import GitRepo


@pytest.fixture
def github(tmp_path: Path) -> Iterator[RunningForge]:
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "hi\n")
    repo.commit("readme")
    with running_github(repo.path / ".git") as (running, _):
        yield running


def _start_lines(settings: BotSettings, caplog: pytest.LogCaptureFixture) -> list[str]:
    bot = Bot(settings, FAST_RETRIES)
    try:
        with caplog.at_level(logging.INFO, logger="kpops_bot.server.bot"):
            bot.check_forges()
    finally:
        bot.services.close()
    return [record.getMessage() for record in caplog.records if record.name == "kpops_bot.server.bot"]


@pytest.mark.bot_process
def test_serve_refuses_to_start_without_any_forge_credentials(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    settings = {"data_dir": str(tmp_path / "data"), "port": free_port(), "github": {"webhook_secret": "s3cret"}}
    config.write_text(json.dumps(settings))
    result = subprocess.run(
        [sys.executable, "-m", "kpops_bot", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,  # started and served: the test fails here
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: no forge credentials: set github.token, github.app_id and its private key, or gitlab.token "
        "(KPOPS_BOT_GITHUB__TOKEN, KPOPS_BOT_GITLAB__TOKEN); without them no delivery can be answered"
    ]


def test_at_start_a_refused_token_and_missing_credentials_are_named_per_forge(
    github: RunningForge, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = BotSettings(
        data_dir=tmp_path / "data",
        concurrency=0,
        github=GitHubSettings(api_url=github.url, token="wrong-token", webhook_secret="s"),  # type: ignore[arg-type]
        gitlab=GitLabSettings(webhook_secret="s"),  # type: ignore[arg-type]
    )
    assert _start_lines(settings, caplog) == [
        f"forge credentials: GitHub token check: HTTP 401 Bad credentials ({github.url}/user)",
        "forge credentials: GitLab has a webhook secret but no credentials (set gitlab.token)",
    ]
    assert sum(entry.path == "/user" for entry in github.log) == 1  # asked once, not retried


def test_at_start_accepted_credentials_say_whose_they_are_and_an_unreachable_forge_its_url(
    github: RunningForge, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = BotSettings(
        data_dir=tmp_path / "data",
        concurrency=0,
        github=GitHubSettings(api_url=github.url, token="bot-token"),  # type: ignore[arg-type]
        gitlab=GitLabSettings(url=nowhere, token="bot-token"),  # type: ignore[arg-type]
    )
    assert _start_lines(settings, caplog) == [
        "forge credentials: GitHub accepted the user kpops-bot",
        f"forge credentials: GitLab token check: no answer from {nowhere}/api/v4/user (ConnectionError)",
    ]


@pytest.mark.bot_process
def test_serve_logs_a_refused_token_at_start(github: RunningForge, tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    port = free_port()
    settings = {
        "data_dir": str(tmp_path / "data"),
        "port": port,
        "concurrency": 0,
        "github": {"api_url": github.url, "token": "wrong-token", "webhook_secret": "s3cret"},
    }
    config.write_text(json.dumps(settings))
    process = subprocess.Popen(
        [sys.executable, "-m", "kpops_bot", "serve", "--config", str(config)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or []), daemon=True)
    reader.start()
    try:
        told = wait_for("the credentials line", lambda: [line for line in lines if "forge credentials" in line], 120)
    finally:
        process.terminate()
        process.wait(timeout=60)
        reader.join(timeout=60)
    (line,) = told
    assert f"GitHub token check: HTTP 401 Bad credentials ({github.url}/user)" in line
    assert "wrong-token" not in "".join(lines)
