"""Faults of the surroundings met by the whole bot (server, store, worker, real git, real kpops) on a fake forge.

A merge applied through a git host having a bad minute (502 to the apply's fetches, then to its pushes) is committed
once after the remote recovers, answered once, and its final status is success: never "Nothing was applied", never
a failure status. A preview on a full data disk (a small tmpfs, filled) says "the bot's disk is full" in the log
and the status, not "repository not readable" on the pull request, and reports once the space is freed.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.gitops.publish import COMMIT_TRAILER
from kpops_bot.report.identity import answer_of, is_part
from kpops_bot.settings import ApplySettings
from testbed.harness import BotHarness, bot_on_remote, harness_fixture, wait_for
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
FETCH_FAULTS, PUSH_FAULTS = 3, 2


harness = harness_fixture(
    environments={"main": ["dev"]},
    apply=ApplySettings(push_branches=["main"]),
    retry_delay=0.1,
    # A worker that counts every failure as an attempt (before faults were told apart) still gets through.
    max_attempts=FETCH_FAULTS + PUSH_FAULTS + 2,
)


def _git(remote: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=remote, check=True, capture_output=True, text=True).stdout.strip()


def _open(harness: BotHarness) -> str:
    """A pull request scaling word-count, previewed; its head."""
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "scale", "origin/main")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    head = repo.commit("scale word-count")
    repo.git("push", "-q", "origin", "scale")
    harness.forge.pulls.open(1, head, head_ref="scale")
    harness.send_pull_request("opened", 1, head, head_ref="scale")
    assert harness.final_status(head) == harness.forge.success
    return head


def _open_and_merge(harness: BotHarness) -> tuple[str, str]:
    """The pull request of `_open`, merged on the remote; its head and merge commit."""
    head = _open(harness)
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
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
    wait_for("the delivery again done", lambda: _all_done(harness, 3))  # preview, apply, apply again
    assert len([body for body in harness.bot_comments(1) if answer_of(body) is not None]) == 1
    assert int(_git(harness.remote, "rev-list", "--count", "main")) == commits + 1


def test_a_command_whose_push_meets_502s_is_answered_once_with_one_commit(harness: BotHarness) -> None:
    _open(harness)
    commits = int(_git(harness.remote, "rev-list", "--count", "main"))
    harness.forge.git.fail(502, PUSH_FAULTS, matching="service=git-receive-pack")
    comment = harness.send_comment(1, "alice", "/kpops reset word-count")

    def answered() -> list[str]:
        return [body for body in harness.bot_comments(1) if answer_of(body) is not None]

    (answer,) = wait_for("the answer", answered)
    assert "❌" not in answer and "job(s) in `rendered/dev/word-count/jobs/`" in answer
    assert len(harness.forge.git.faulted) == PUSH_FAULTS
    assert int(_git(harness.remote, "rev-list", "--count", "main")) == commits + 1
    (reacted,) = [c for c in harness.forge.comments(1) if c.id == comment]
    assert reacted.reactions == ["eyes"]
    wait_for("every job done", lambda: _all_done(harness, 2))  # preview, command
    assert len(answered()) == 1


def _all_done(harness: BotHarness, count: int) -> bool:
    """`count` jobs stored, and each finished."""
    jobs = harness.bot.services.store.jobs()
    return all(job.state in ("done", "failed") for job in jobs) and len(jobs) >= count


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of the test's own (mounted under its folder, unmounted after)."""
    if os.geteuid() != 0:
        pytest.skip("filling a disk of its own needs root, to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)]
    mounted = subprocess.run(mount, check=False, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"no tmpfs can be mounted here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def _fill(disk: Path) -> Path:
    """A file that takes every free byte of `disk`."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    return filler


def test_a_preview_on_a_full_disk_says_so_and_reports_once_space_is_freed(
    engine_settings: EngineSettings,
    tmp_path: Path,
    deployment_repo: GitRepo,
    small_disk: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        bot_on_remote(
            Forge.GITHUB,
            engine_settings,
            tmp_path,
            deployment_repo,
            data_dir=small_disk / "data",  # mirrors, checkouts, render cache
            database_url=f"sqlite:///{tmp_path / 'store.db'}",  # the store's own disk is not full
            retry_delay=0.1,
            max_attempts=50,
        ) as harness,
        caplog.at_level(logging.WARNING),
    ):
        _preview_on_a_full_disk(harness, small_disk, caplog)


def _preview_on_a_full_disk(harness: BotHarness, small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "scale", "origin/main")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    head = repo.commit("scale word-count")
    repo.git("push", "-q", "origin", "scale")
    harness.forge.pulls.open(1, head, head_ref="scale")
    filler = _fill(small_disk)
    harness.send_pull_request("opened", 1, head, head_ref="scale")

    waiting = "Waiting to retry: the bot's disk is full"

    def met() -> bool:  # the waiting status, or (before faults were told apart) "repository not readable"
        return any(status.description == waiting for status in harness.forge.statuses(head)) or bool(
            harness.bot_comments(1)
        )

    wait_for("the preview to meet the full disk", met)
    assert harness.bot_comments(1) == []
    assert waiting in [status.description for status in harness.forge.statuses(head)]
    assert "the bot's disk is full" in caplog.text
    filler.unlink()

    assert harness.final_status(head) == harness.forge.success
    comments = harness.bot_comments(1)
    assert len(comments) == 1 and is_part(comments[0]) and "word-count" in comments[0]
    assert {status.state for status in harness.forge.statuses(head)} == {"pending", "success"}
