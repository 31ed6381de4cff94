"""The release basics: one version (pyproject's, as the installed distribution records it) shown by
`kpops-bot --version`, `/healthz` and the `kpops_bot_build_info` metric; the licence and policy files exist."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from kpops_bot.metrics import exposition
from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings, GitHubSettings
from kpops_bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


@pytest.mark.bot_process
def test_version_prints_pyprojects_version() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "kpops_bot", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"kpops-bot {PYPROJECT_VERSION}\n"


def test_healthz_answers_the_version(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    try:
        settings = BotSettings(github=GitHubSettings(webhook_secret="s3cret"))  # type: ignore[arg-type]
        answer = TestClient(create_app(settings, store)).get("/healthz")
    finally:
        store.close()
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": PYPROJECT_VERSION}


def test_build_info_metric_names_the_version() -> None:
    families = {family.name: family for family in text_string_to_metric_families(exposition().decode())}
    [sample] = families["kpops_bot_build_info"].samples
    assert sample.name == "kpops_bot_build_info"
    assert sample.labels == {"version": PYPROJECT_VERSION}
    assert sample.value == 1


def test_licence_changelog_and_security_policy_exist() -> None:
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    assert f"## [{PYPROJECT_VERSION}]" in changelog
    assert "Report a vulnerability" in (ROOT / "SECURITY.md").read_text(encoding="utf-8")
