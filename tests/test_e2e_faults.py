"""A merge applied through a git host having a bad minute: the whole bot (server, store, worker, real git, real
kpops) on a fake forge whose git hosting answers 502 to the apply's fetches, then to its pushes. The merge is
committed once after the remote recovers, answered once, and its final status is success: never "Nothing was
applied", never a failure status."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.gitops.publish import COMMIT_TRAILER
from kpops_bot.report.identity import answer_of
from kpops_bot.settings import ApplySettings
from tests.helpers import GitRepo
from tests.support.harness import BotHarness, running_bot, wait_for

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
FETCH_FAULTS, PUSH_FAULTS = 3, 2


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def harness(
    request: pytest.FixtureRequest, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> Iterator[BotHarness]:
    bare = deployment_repo.with_origin(tmp_path / "remote.git")
    with running_bot(
        request.param,
        engine_settings,
        tmp_path,
        deployment_repo,
        remote=bare,
        environments={"main": ["dev"]},
        apply=ApplySettings(push_branches=["main"]),
        retry_delay=0.1,
        # A worker that counts every failure as an attempt (before faults were told apart) still gets through.
        max_attempts=FETCH_FAULTS + PUSH_FAULTS + 2,
    ) as running:
        yield running


def _git(remote: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=remote, check=True, capture_output=True, text=True).stdout.strip()


def _open_and_merge(harness: BotHarness) -> tuple[str, str]:
    """A pull request scaling word-count, previewed, then merged on the remote; its head and merge commit."""
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "scale", "origin/main")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    head = repo.commit("scale word-count")
    repo.git("push", "-q", "origin", "scale")
    harness.forge.pulls.open(1, head, head_ref="scale")
    harness.send_pull_request("opened", 1, head, head_ref="scale")
    assert harness.final_status(head) == harness.forge.success
    repo.git("checkout", "-q", "-B", "main", "origin/main")
    repo.git("merge", "-q", "--no-ff", "scale", "-m", "Merge pull request 1 from scale")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "main")
    harness.forge.pulls.merge(1, merge)
    return head, merge


def test_a_merge_whose_fetch_and_push_meet_502s_is_committed_once_after_the_remote_recovers(
    harness: BotHarness,
) -> None:
    head, merge = _open_and_merge(harness)
    commits = int(_git(harness.remote, "rev-list", "--count", "main"))
    git = harness.forge.git
    git.fail(502, FETCH_FAULTS, matching="service=git-upload-pack")  # the apply's fetch, then the target's clone
    git.fail(502, PUSH_FAULTS, matching="service=git-receive-pack")
    harness.send_pull_request("merged", 1, head, head_ref="scale", merge_commit_sha=merge)

    assert harness.final_status(merge) == harness.forge.success
    assert len(git.faulted) == FETCH_FAULTS + PUSH_FAULTS  # every 502 was met, and the apply went on
    answers = [body for body in harness.bot_comments(1) if answer_of(body) is not None]
    assert len(answers) == 1
    assert answer_of(answers[0]) == (f"apply:{merge}", "ok")
    assert "Nothing was applied" not in answers[0] and "committed" in answers[0]
    assert int(_git(harness.remote, "rev-list", "--count", "main")) == commits + 1  # one commit, the apply's
    assert f"{COMMIT_TRAILER}: {merge}" in _git(harness.remote, "log", "-1", "--format=%B", "main")
    statuses = harness.forge.statuses(merge)
    assert {status.state for status in statuses} == {"pending", harness.forge.success}
    if harness.forge.forge is Forge.GITHUB:  # GitLab keeps one pending status: it refuses pending to pending
        waiting = "Waiting to retry: the git remote answered 502"
        assert any(status.description == waiting for status in statuses)

    harness.send_pull_request("merged", 1, head, head_ref="scale", merge_commit_sha=merge, delivery="again")
    wait_for("the delivery again done", lambda: _all_done(harness))
    assert len([body for body in harness.bot_comments(1) if answer_of(body) is not None]) == 1
    assert int(_git(harness.remote, "rev-list", "--count", "main")) == commits + 1


def _all_done(harness: BotHarness) -> bool:
    jobs = harness.bot.services.store.jobs()
    return all(job.state in ("done", "failed") for job in jobs) and len(jobs) >= 3
