"""A refused or ignored delivery leaves one log line that says which (forge, event, delivery id) and why, without a
secret: in the bot's own process, and in an intake process (`intake_processes: 1`) with JSON logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.events.signatures import github_signature
from kpops_bot.playground.asgi_server import free_port
from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from kpops_bot.store import Store
from testbed.deliveries import WEBHOOKS
from testbed.forges import running_forge
from testbed.harness import SECRET, bot_settings, settings_yaml, wait_for
from testbed.repos import GitRepo

PULL_REQUEST = (WEBHOOKS / "github-pull_request.json").read_bytes()
MERGE_REQUEST = (WEBHOOKS / "gitlab-merge_request.json").read_bytes()
GUESSED = "guessed-token-123"
ALLOWLIST = "repository acme/kpops-deployments is not in this bot's allowlist"


def _signed(event: str, delivery: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    signature = github_signature(secret, body)
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}


def _gitlab(event: str, delivery: str, token: str) -> dict[str, str]:
    return {"X-Gitlab-Event": event, "Idempotency-Key": delivery, "X-Gitlab-Token": token}


# (endpoint, body, headers, the line logged)
_DELIVERIES: dict[str, tuple[str, bytes, dict[str, str], str]] = {
    "wrong-signature": (
        "github",
        PULL_REQUEST,
        _signed("pull_request", "d-401", PULL_REQUEST, secret="not the secret"),
        "refused delivery d-401: github event 'pull_request', answered 401: signature or token missing or wrong",
    ),
    "wrong-token": (
        "gitlab",
        MERGE_REQUEST,
        _gitlab("Merge Request Hook", "k-401", GUESSED),
        "refused delivery k-401: gitlab event 'Merge Request Hook', answered 401: signature or token missing or wrong",
    ),
    "not-json": (
        "github",
        b"not json",
        _signed("pull_request", "d-400", b"not json"),
        "refused delivery d-400: github event 'pull_request', answered 400: body is not JSON the bot reads: "
        "Expecting value: line 1 column 1 (char 0)",
    ),
    "too-large": (
        "github",
        b"x" * 300_000,
        _signed("pull_request", "d-413", b"x" * 300_000),
        "refused delivery d-413: github event 'pull_request', answered 413: body larger than 200000 bytes",
    ),
    "unsupported-event": (
        "github",
        b"{}",
        _signed("issues", "d-issues", b"{}"),
        "ignored delivery d-issues: github event 'issues', answered 202: event 'issues' is not handled",
    ),
    "allowlist": (
        "github",
        PULL_REQUEST,
        _signed("pull_request", "d-other", PULL_REQUEST),
        f"ignored delivery d-other: github event 'pull_request', answered 202: {ALLOWLIST}",
    ),
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    opened.migrate()
    yield opened
    opened.close()


def _settings(**overrides: Any) -> BotSettings:
    values: dict[str, Any] = {
        "github": GitHubSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        "gitlab": GitLabSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        "max_body_bytes": 200_000,
        "repositories": ["acme/other-*"],
        **overrides,
    }
    return BotSettings(**values)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "kpops_bot.server.app"]


@pytest.mark.parametrize("case", list(_DELIVERIES))
def test_a_refused_or_ignored_delivery_is_logged_once_with_why(
    store: Store, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    endpoint, body, headers, line = _DELIVERIES[case]
    client = TestClient(create_app(_settings(), store))
    with caplog.at_level(logging.INFO, logger="kpops_bot"):
        answer = client.post(f"/webhooks/{endpoint}", content=body, headers=headers)
    assert answer.status_code == int(line.split("answered ")[1][:3])
    assert _lines(caplog) == [line]
    assert SECRET not in caplog.text
    assert GUESSED not in caplog.text


def test_a_forge_not_enabled_is_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(_settings(gitlab=GitLabSettings()), store))
    with caplog.at_level(logging.INFO, logger="kpops_bot"):
        answer = client.post("/webhooks/gitlab", content=b"{}", headers=_gitlab("Push Hook", "k-404", GUESSED))
    assert answer.status_code == 404
    assert _lines(caplog) == [
        "refused delivery k-404: gitlab event 'Push Hook', answered 404: gitlab webhooks are not enabled on this bot"
    ]
    (record,) = [record for record in caplog.records if record.name == "kpops_bot.server.app"]
    assert record.levelno == logging.WARNING


def test_a_queued_delivery_adds_no_refused_or_ignored_line(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(_settings(repositories=["*"]), store))
    with caplog.at_level(logging.INFO, logger="kpops_bot"):
        headers = _signed("pull_request", "d", PULL_REQUEST)
        answer = client.post("/webhooks/github", content=PULL_REQUEST, headers=headers)
    assert answer.json()["status"] == "queued"
    assert _lines(caplog) == []


def test_an_intake_process_logs_what_it_refuses_and_ignores_as_json(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    """`intake_processes: 1`: the deliveries are answered by the intake process, whose lines reach the bot's
    standard error in the configured format."""
    log = tmp_path / "bot.log"
    with running_forge(Forge.GITHUB, deployment_repo.path / ".git", {"alice": "write"}) as forge:
        settings = bot_settings(
            engine_settings,
            forge,
            tmp_path / "data",
            port=free_port(),
            concurrency=0,
            intake_processes=1,
            log_format="json",
            max_body_bytes=200_000,
            repositories=["acme/other-*"],
        )
        config = tmp_path / "bot.yaml"
        config.write_text(settings_yaml(settings))
        url = f"http://127.0.0.1:{settings.port}"
        with log.open("wb") as stderr:
            bot = subprocess.Popen(
                [sys.executable, "-m", "kpops_bot", "serve", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            wait_for("the bot to answer", lambda: _answers(f"{url}/readyz"), timeout=60)
            for case in ("wrong-signature", "not-json", "too-large", "unsupported-event", "allowlist"):
                endpoint, body, headers, _line = _DELIVERIES[case]
                httpx.post(f"{url}/webhooks/{endpoint}", content=body, headers=headers, timeout=30)
            gitlab = httpx.post(f"{url}/webhooks/gitlab", content=b"{}", headers=_gitlab("Push Hook", "k-404", GUESSED))
            assert gitlab.status_code == 404
        finally:
            bot.terminate()
            bot.wait(timeout=60)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    answers = [record for record in records if record.get("logger") == "kpops_bot.server.app"]
    logged = {record["delivery"]: record for record in answers}
    assert sorted(record["delivery"] for record in answers) == [
        "d-400",
        "d-401",
        "d-413",
        "d-issues",
        "d-other",
        "k-404",
    ]
    assert logged["d-401"]["level"] == "WARNING"
    assert logged["d-401"]["message"] == _DELIVERIES["wrong-signature"][3]
    assert (logged["d-other"]["level"], logged["d-other"]["outcome"]) == ("INFO", "ignored")
    assert logged["d-other"]["message"] == _DELIVERIES["allowlist"][3]
    assert (logged["k-404"]["forge"], logged["k-404"]["event"]) == ("gitlab", "Push Hook")
    text = log.read_text()
    assert SECRET not in text
    assert GUESSED not in text


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
