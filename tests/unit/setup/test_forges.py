"""Connecting a forge: the GitHub App manifest flow and the GitLab hook command, against the fake forges."""

from __future__ import annotations

import html
import json
import re
import stat
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from kpops_bot.cli import main
from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.github import GitHubClient
from kpops_bot.playground.fake_github import ManifestCode
from kpops_bot.settings import BotSettings
from kpops_bot.setup.github_app import FlowOptions, ManifestFlow
from testbed.forges import FAST_RETRIES, GITLAB_PROJECT_ID, running_github, running_gitlab
from testbed.repos import GitRepo
from tests.support.keys import app_key

WEBHOOKS = Path(__file__).resolve().parents[3] / "webhooks"


def _private_key() -> str:
    key = app_key()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _form(page: str) -> tuple[str, dict[str, object]]:
    action = re.search(r'<form action="([^"]+)"', page)
    manifest = re.search(r'name="manifest" value="([^"]+)"', page)
    assert action is not None and manifest is not None, page
    return html.unescape(action.group(1)), json.loads(html.unescape(manifest.group(1)))


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "deployments\n")
    repo.commit("readme")
    return repo


def test_github_app_from_the_manifest_flow_authenticates_as_the_new_app(repo: GitRepo, tmp_path: Path) -> None:
    private_key = _private_key()
    with running_github(repo.path / ".git") as (_, fake):
        fake.expect_manifest(ManifestCode("one-time-code", 90210, "acme-kpops-bot", private_key, "hook-secret"))
        options = FlowOptions(
            bot_url="https://bot.acme.example/",
            folder=tmp_path / "app",
            github_url=fake.origin,
            api_url=fake.base_url,
            organisation="acme",
        )
        flow = ManifestFlow(options).start()
        try:
            action, manifest = _form(httpx.get(flow.url, timeout=10).text)
            assert action.startswith(f"{fake.origin}/organizations/acme/settings/apps/new?state=")
            assert manifest["hook_attributes"] == {"url": "https://bot.acme.example/webhooks/github", "active": True}
            assert manifest["redirect_url"] == f"{flow.url}callback"
            expected = json.loads((WEBHOOKS / "github-app.json").read_text())
            assert manifest["default_permissions"] == expected["default_permissions"]
            assert manifest["default_permissions"]["contents"] == "write", "apply commits rendered manifests"
            state = action.split("state=", 1)[1]

            forged = httpx.get(f"{flow.url}callback", params={"code": "one-time-code", "state": "guess"}, timeout=10)
            assert forged.status_code == 400
            assert not flow.wait(0.1), "an answer with another state is not this registration's"
            assert fake.manifest_codes, "the code was not spent by a forged answer"

            # GitHub sends the admin's browser back with the code.
            done = httpx.get(f"{flow.url}callback", params={"code": "one-time-code", "state": state}, timeout=10)
            assert done.status_code == 200
            assert "/apps/acme-kpops-bot/installations/new" in done.text
            assert flow.wait(5)
        finally:
            flow.stop()
        assert flow.settings_file is not None
        key_file = tmp_path / "app" / "acme-kpops-bot.private-key.pem"
        for written in (flow.settings_file, key_file):
            assert stat.S_IMODE(written.stat().st_mode) == 0o600
        settings = BotSettings.load(flow.settings_file)
        assert settings.github.app_id == 90210
        assert settings.webhook_secret(Forge.GITHUB) == "hook-secret"
        github = settings.github.model_copy(update={"api_url": fake.base_url, "seconds_between_writes": 0})
        client = GitHubClient(github, FAST_RETRIES)
        repository = Repository(Forge.GITHUB, "acme/deployments", "")
        assert client.bot_name() == "acme-kpops-bot[bot]"
        assert client.read_file(repository, "README.md", "main") == "deployments\n"
        assert private_key not in done.text


def test_github_app_code_github_does_not_know_is_reported(repo: GitRepo, tmp_path: Path) -> None:
    with running_github(repo.path / ".git") as (_, fake):
        flow = ManifestFlow(FlowOptions("https://bot.example", tmp_path, fake.origin, fake.base_url)).start()
        try:
            action, _ = _form(httpx.get(flow.url, timeout=10).text)
            state = action.split("state=", 1)[1]
            answer = httpx.get(f"{flow.url}callback", params={"code": "expired", "state": state}, timeout=10)
            assert flow.wait(5)
        finally:
            flow.stop()
    assert answer.status_code == 502
    assert "valid once" in (flow.error or "")
    assert flow.settings_file is None
    assert list(tmp_path.glob("*.yaml")) == []


def test_gitlab_hook_is_created_once_then_updated(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_gitlab(repo.path / ".git") as (forge, fake):
        fake.projects[GITLAB_PROJECT_ID].members["kpops-bot"] = 40
        monkeypatch.setenv("KPOPS_BOT_GITLAB__URL", forge.url)
        monkeypatch.setenv("KPOPS_BOT_GITLAB__TOKEN", "bot-token")
        monkeypatch.setenv("KPOPS_BOT_GITLAB__WEBHOOK_SECRET", "first-secret")
        arguments = ["setup", "gitlab-hook", "--project", "acme/platform/deployments", "--bot-url", "https://bot.x/"]
        first = CliRunner().invoke(main, arguments)
        assert first.exit_code == 0, first.output
        assert "created" in first.output
        monkeypatch.setenv("KPOPS_BOT_GITLAB__WEBHOOK_SECRET", "rotated-secret")
        second = CliRunner().invoke(main, arguments)
        assert second.exit_code == 0, second.output
        assert "updated" in second.output
        (hook,) = fake.projects[GITLAB_PROJECT_ID].hooks.values()
        assert "first-secret" not in first.output + second.output
    events = json.loads((WEBHOOKS / "gitlab-hook.json").read_text())
    assert hook["url"] == "https://bot.x/webhooks/gitlab"
    assert hook["token"] == "rotated-secret"
    assert {key: hook[key] for key in events} == events
    assert hook["merge_requests_events"] and hook["note_events"] and hook["push_events"]


def test_gitlab_hook_without_maintainer_role_says_so(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_gitlab(repo.path / ".git") as (forge, fake):
        monkeypatch.setenv("KPOPS_BOT_GITLAB__URL", forge.url)
        monkeypatch.setenv("KPOPS_BOT_GITLAB__TOKEN", "bot-token")
        monkeypatch.setenv("KPOPS_BOT_GITLAB__WEBHOOK_SECRET", "secret")
        result = CliRunner().invoke(
            main, ["setup", "gitlab-hook", "--project", str(GITLAB_PROJECT_ID), "--bot-url", "https://bot.x"]
        )
        assert fake.projects[GITLAB_PROJECT_ID].hooks == {}
    assert result.exit_code == 1
    assert "needs the Maintainer role" in result.output
