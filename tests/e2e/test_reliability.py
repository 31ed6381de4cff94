"""Reliability of the whole bot: a killed process, many pull requests at once, pushes while queued, forks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.jobs import JobKind
from kpops_bot.playground.asgi_server import free_port
from kpops_bot.server.bot import workflows
from kpops_bot.store import JobState, Store
from kpops_bot.worker import Worker, WorkerOptions
from testbed.deliveries import github_pull_request, send_github
from testbed.forges import running_github
from testbed.harness import SECRET, running_bot, wait_for
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"


def _scaled_branch(repo: GitRepo, branch: str, replicas: int) -> str:
    repo.git("checkout", "-q", "-B", branch, "main")
    repo.replace(WORD_COUNT, "replicaCount: 2", f"replicaCount: {replicas}")
    return repo.commit(f"scale word-count to {replicas}")


@pytest.mark.bot_process
def test_killed_in_the_middle_of_a_job_it_completes_after_a_restart_with_one_comment(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    sha = _scaled_branch(deployment_repo, "feature", 7)
    with running_github(deployment_repo.path / ".git", {"alice": "write"}) as (github, fake):
        port = free_port()
        config = tmp_path / "bot.yaml"
        settings = {
            **engine_settings.model_dump(mode="json"),
            "data_dir": str(tmp_path / "data"),
            "port": port,
            "lease_seconds": 3,
            "poll_interval": 0.1,
            "github": {
                "api_url": github.url,
                "token": "bot-token",
                "webhook_secret": SECRET,
                "seconds_between_writes": 0,
            },
        }
        config.write_text(yaml.safe_dump(settings))

        def start() -> subprocess.Popen[bytes]:
            process = subprocess.Popen(
                [sys.executable, "-m", "kpops_bot", "serve", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "KPOPS_BOT_TEST_REGISTRY": "registry.example.com"},
            )
            wait_for("the bot to listen", lambda: _ready(port), timeout=60)
            return process

        first = start()
        payload = github_pull_request(
            "opened", number=5, full_name="acme/deployments", clone_url=str(deployment_repo.path), head_sha=sha
        )
        assert send_github(f"http://127.0.0.1:{port}", SECRET, "pull_request", payload).status_code == 202
        wait_for("the pending status", lambda: github.statuses(sha))
        fake.faults.slow["/statuses/"] = 60  # rendering now; after commenting, the job hangs on its final status
        wait_for("the diff comment", lambda: github.comments(5))
        first.send_signal(signal.SIGKILL)
        first.wait()
        fake.faults.slow.clear()
        store = Store(f"sqlite:///{tmp_path / 'data' / 'kpops-bot.db'}")
        assert [job.state for job in store.jobs()] == [JobState.RUNNING]  # its worker is dead

        second = start()
        try:
            wait_for("the job done", lambda: store.jobs()[0].state is JobState.DONE, timeout=120)
        finally:
            second.terminate()
            second.wait(timeout=30)
        (job,) = store.jobs()
        assert job.attempts == 2
        assert len(github.comments(5)) == 1
        assert github.statuses(sha)[-1].state == "success"
        store.close()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_twenty_pull_requests_at_once_each_get_their_own_correct_comment(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    heads = {number: _scaled_branch(deployment_repo, f"scale-{number}", 10 + number) for number in range(1, 21)}
    with running_bot(Forge.GITHUB, engine_settings, tmp_path, deployment_repo, concurrency=4) as harness:
        threads = [
            threading.Thread(target=harness.send_pull_request, args=("opened", number, sha))
            for number, sha in heads.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(response.status_code == 202 for response in harness.sent)
        for number, sha in heads.items():
            assert harness.final_status(sha) == "success"
            (comment,) = harness.bot_comments(number)
            assert f"+  replicas: {10 + number}\n" in comment  # the Deployment's diff of this PR's head
            others = [10 + other for other in heads if other != number]
            assert not any(f"replicas: {value}\n" in comment for value in others)


def test_a_push_while_a_preview_is_queued_reports_only_the_newest_head(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    older = _scaled_branch(deployment_repo, "feature", 3)
    deployment_repo.replace(WORD_COUNT, "replicaCount: 3", "replicaCount: 4")
    newer = deployment_repo.commit("scale again")
    with running_bot(Forge.GITHUB, engine_settings, tmp_path, deployment_repo, concurrency=0) as harness:
        harness.send_pull_request("opened", 8, older)
        harness.send_pull_request("updated", 8, newer)
        store = harness.bot.services.store
        assert [(job.head_sha, job.state) for job in store.jobs()] == [
            (older, JobState.SUPERSEDED),
            (newer, JobState.QUEUED),
        ]
        worker = Worker(
            store,
            {JobKind.PREVIEW: workflows(harness.bot.services)[JobKind.PREVIEW]},
            WorkerOptions(concurrency=1, poll_interval=0.1),
        )
        worker.start()
        try:
            assert harness.final_status(newer) == "success"
        finally:
            worker.stop()
        assert harness.forge.statuses(older) == []
        (comment,) = harness.bot_comments(8)
        assert "+  replicas: 4\n" in comment


def test_fork_pull_requests_are_not_rendered_unless_allowed(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    sha = _scaled_branch(deployment_repo, "from-fork", 9)
    with running_bot(Forge.GITHUB, engine_settings, tmp_path / "a", deployment_repo) as harness:
        harness.send_pull_request("opened", 12, sha, fork=True)
        assert harness.final_status(sha) == "success"
        assert harness.forge.statuses(sha)[-1].description == "Not previewed: pull request from a fork"
        (comment,) = harness.bot_comments(12)
        assert "comes from a fork" in comment
        assert harness.bot.services.pools.started == []  # nothing was rendered, no pool started
    with running_bot(
        Forge.GITHUB, engine_settings, tmp_path / "b", deployment_repo, allow_fork_previews=True
    ) as harness:
        harness.send_pull_request("opened", 12, sha, fork=True)
        assert harness.final_status(sha) == "success"
        assert "+  replicas: 9\n" in harness.bot_comments(12)[0]
        assert harness.bot.services.pools.started == [False]  # the untrusted pool did it


@pytest.mark.parametrize("forge", [Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
@pytest.mark.parametrize("when", ["50 ms after opened", "while the first head renders"])
def test_a_push_soon_after_opened_leaves_no_status_pending(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, forge: Forge, when: str
) -> None:
    older = _scaled_branch(deployment_repo, "feature", 3)
    deployment_repo.replace(WORD_COUNT, "replicaCount: 3", "replicaCount: 4")
    newer = deployment_repo.commit("scale again")
    with running_bot(forge, engine_settings, tmp_path, deployment_repo) as harness:
        if when == "50 ms after opened":
            harness.send_pull_request("opened", 8, older)
            time.sleep(0.05)  # the scenario itself: the forge delivers the push this soon
        else:  # the pending status is stored but answered late: the push surely comes while that job runs
            harness.forge.faults.late["/statuses/"] = 1.0
            harness.send_pull_request("opened", 8, older)
            wait_for("the first head's pending status", lambda: harness.forge.statuses(older))
        harness.send_pull_request("updated", 8, newer)
        harness.forge.faults.late.clear()
        assert harness.final_status(newer) == "success"
        statuses = harness.forge.statuses(older)
        if when != "50 ms after opened":
            assert statuses, "the first head's job was running when the push came"
        if statuses:  # its job ran (else the push superseded it while queued, before any status)
            assert (statuses[-1].state, statuses[-1].description) == ("success", f"Superseded by {newer[:7]}")
        (comment,) = harness.bot_comments(8)
        assert "+  replicas: 4\n" in comment
