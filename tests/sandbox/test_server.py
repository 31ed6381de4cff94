"""The sandbox against a hostile fork pull request previewed by the running bot (`allow_fork_previews: true`).

The attacker's custom component goes for the bot's secrets, state and neighbours (see tests/support/hostile.py);
every attack fails, the preview still ends with its report, and nothing the bot keeps is changed by it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from kpops_bot.engine.settings import EngineSettings, SandboxChoice
from kpops_bot.engine.targets import render_revision
from kpops_bot.events.model import Forge
from kpops_bot.model.render import RenderSpec
from testbed.harness import BotHarness, running_bot
from testbed.repos import GitRepo
from tests.support.hostile import Targets, listening, loot, make_hostile, planted_files, processes_with

WORD_COUNT = "pipelines/word-count/pipeline.yaml"


def snapshot(harness: BotHarness, number: int, sha: str) -> dict[str, object]:
    """What the bot keeps and shows for a pull request, and the state it keeps for all of them."""
    services = harness.bot.services
    cache = services.settings.data_dir / "render-cache"
    return {
        "comments": harness.bot_comments(number),
        "statuses": [(status.state, status.description) for status in harness.forge.statuses(sha)],
        "cache": {
            str(path.relative_to(cache)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(cache.rglob("*"))
            if path.is_file()
        },
        "refs": harness.repo.git("for-each-ref", "--format=%(refname) %(objectname)"),
    }


def test_a_hostile_fork_pull_request_reaches_nothing_and_changes_nothing(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"bot-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("KPOPS_BOT_TEST_FORGE_TOKEN", secret)  # in the bot's own environment
    settings_file = tmp_path / "bot.yaml"
    settings_file.write_text(f"github:\n  token: {secret}\n")
    repo = deployment_repo
    repo.git("checkout", "-q", "-b", "honest")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    honest = repo.commit("scale word-count")
    with (
        listening() as listener,
        running_bot(Forge.GITHUB, engine_settings, tmp_path, repo, allow_fork_previews=True) as harness,
    ):
        harness.send_pull_request("opened", 7, honest, head_ref="honest")
        assert harness.final_status(honest) == "success"
        data = harness.bot.services.settings.data_dir
        workspace = data / "workspace"
        targets = Targets(
            secret=secret,
            read=[settings_file, data / "kpops-bot.db"],
            write=[
                data,
                workspace / "mirrors",
                workspace / "checkouts",
                data / "render-cache",
                *harness.bot.services.pools.get(trusted=True).chart_caches,
            ],
            port=listener.port,
        )
        repo.git("checkout", "-q", "-b", "evil", "main")
        evil = make_hostile(repo, targets)
        repo.git("checkout", "-q", "honest")
        before = snapshot(harness, 7, honest)
        jobs_before = [(job.id, job.kind, job.state) for job in harness.bot.services.store.jobs()]

        harness.send_pull_request("opened", 8, evil, fork=True, head_ref="evil")
        assert harness.final_status(evil) == "success"

        (report,) = harness.bot_comments(8)
        assert "looter" in report  # the hostile pipeline still rendered, and was reported
        assert listener.connections == []
        assert processes_with(f"sleep {targets.sleep}") == []
        (chart_cache,) = harness.bot.services.pools.get(trusted=True).chart_caches
        assert planted_files(tmp_path, chart_cache) == []
        after = snapshot(harness, 7, honest)
        cached_before, cached_after = before.pop("cache"), after.pop("cache")
        assert after == before
        assert isinstance(cached_before, dict) and isinstance(cached_after, dict)
        assert {key: cached_after.get(key) for key in cached_before} == cached_before  # the fork's renders only added
        services = harness.bot.services
        fork_pool = services.pools.get(trusted=False)  # what the fork's component got there, rendered once more
        [hostile] = render_revision(services.workspace, fork_pool, str(harness.remote), evil, ["hostile"], RenderSpec())
        got = loot(hostile)
        assert got["environ"] == [] and got["read"] == {} and got["connected"] is False
        assert got["processes_started"] < 300 and got["allocated_6_gib"] is False
        jobs = harness.bot.services.store.jobs()
        assert [(job.id, job.kind, job.state) for job in jobs[: len(jobs_before)]] == jobs_before
        assert [job.kind for job in jobs[len(jobs_before) :]] == ["preview"]  # the fork's preview, nothing else

        repo.replace(WORD_COUNT, "replicaCount: 3", "replicaCount: 4")
        again = repo.commit("scale word-count further")
        harness.send_pull_request("updated", 7, again, head_ref="honest")
        assert harness.final_status(again) == "success"
        (updated,) = harness.bot_comments(7)
        assert "+  replicas: 4\n" in updated and "looter" not in updated and "planted" not in updated


def test_the_server_names_its_sandbox_and_marks_every_preview_rendered_without_one(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    with running_bot(Forge.GITHUB, engine_settings, tmp_path / "boxed", deployment_repo) as harness:
        ready = httpx.get(f"{harness.url}/readyz")
        assert ready.json() == {"status": "ready", "sandbox": "namespaces"}
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    sha = deployment_repo.commit("scale word-count")
    unboxed = engine_settings.model_copy(update={"sandbox": SandboxChoice.OFF})
    with running_bot(Forge.GITHUB, unboxed, tmp_path / "off", deployment_repo) as harness:
        assert httpx.get(f"{harness.url}/readyz").json()["sandbox"] == "off"
        harness.send_pull_request("opened", 3, sha)
        assert harness.final_status(sha) == "success"
        descriptions = [status.description for status in harness.forge.statuses(sha)]
        assert descriptions == [
            "Rendering the pipelines this change affects (rendered without sandbox)",
            "Pipelines: 1 changed (rendered without sandbox)",
        ]


@pytest.mark.bot_process
def test_the_server_refuses_to_start_without_a_sandbox_unless_it_is_off(tmp_path: Path) -> None:
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    env = {
        "PATH": str(only_git),  # no bubblewrap on this machine
        "HOME": str(tmp_path),
        "KPOPS_BOT_DATA_DIR": str(tmp_path / "data"),
        "KPOPS_BOT_GITHUB__WEBHOOK_SECRET": "s",
        "KPOPS_BOT_GITHUB__TOKEN": "t",
        "KPOPS_BOT_SANDBOX": "namespaces",
        "KPOPS_BOT_PORT": "1",
    }
    refused = subprocess.run(
        [sys.executable, "-m", "kpops_bot", "serve"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "Error: no sandbox for pull request code (namespaces: bubblewrap (bwrap) is not installed); "
        "set sandbox: off to render without one"
    )
