"""Faults of the bot's surroundings in apply, commands and previews, against a recording forge and fake
collaborators: a git remote answering 502, the forge answering 502 after the client's retries, a full disk, a
locked database. Each leaves as `TransientFault` with nothing final posted, and the job's next run does the work
once; the job's own failures (a refused push, a 403, a repository that cannot be read) are answered as before."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable

import pytest

from kpops_bot.events.model import PullRequestAction
from kpops_bot.faults import FaultKind, TransientFault
from kpops_bot.gitops.publish import PublishError
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import CommitState, ForgeError
from kpops_bot.report.identity import answer_of, with_answer_line
from kpops_bot.store import Job
from kpops_bot.workflows.preview import PreviewWorkflow
from kpops_bot.workspace import WorkspaceError
from tests.support.fake_collaborators import GIT_502, GIT_DISK_FULL, FakeDiff, disk_full, git_failure
from tests.support.golden import check_golden
from tests.support.recording_forge import BOT, RecordingForge
from tests.support.reports import scaled_report
from tests.support.workflow_kit import HEAD, MERGE, job, pull_request_event, settings
from tests.unit.workflows.test_apply_close import Bench as ApplyBench
from tests.unit.workflows.test_commands import Bench as CommandBench

URL = "https://forge.test/acme/deployments.git"
FETCH_502 = git_failure(WorkspaceError, f"cannot fetch {URL}: {GIT_502.removeprefix('fatal: ')}", GIT_502)
PUSH_503 = git_failure(
    PublishError, f"cannot push to {URL} main: error: RPC failed; HTTP 503 curl 22", "RPC failed; HTTP 503", "push"
)
PUSH_REFUSED = git_failure(
    PublishError,
    f"cannot push to {URL} main: ! [remote rejected] HEAD -> main (pre-receive hook declined)",
    "! [remote rejected] HEAD -> main (pre-receive hook declined)",
    "push",
)
DISK_FULL_FETCH = git_failure(WorkspaceError, f"cannot fetch {URL}: fatal: unpack-objects failed", GIT_DISK_FULL)


def merged(job_id: int = 7, delivery: str = "d1", attempts: int = 1) -> Job:
    event = dataclasses.replace(pull_request_event(PullRequestAction.MERGED, merge_commit_sha=MERGE), delivery=delivery)
    return dataclasses.replace(job(event, JobKind.APPLY, job_id=job_id), attempts=attempts)


def answers(forge: RecordingForge, number: int = 1) -> list[tuple[str, str]]:
    return [marked for body in forge.bot_bodies(number) if (marked := answer_of(body)) is not None]


def states(forge: RecordingForge, sha: str) -> list[tuple[CommitState, str]]:
    return [(status.state, status.description) for status in forge.statuses if status.sha == sha]


def faulted(run: Callable[[], object], kind: FaultKind) -> TransientFault:
    """What `run` raised: a `TransientFault` of `kind`."""
    with pytest.raises(TransientFault) as raised:
        run()
    assert raised.value.kind is kind
    return raised.value


# Apply


@pytest.mark.parametrize(
    ("method", "error", "waiting"),
    [
        ("change_steps", FETCH_502, "Waiting to retry: the git remote answered 502"),
        ("publish", PUSH_503, "Waiting to retry: the git remote answered 503"),
        ("run", disk_full(), "Waiting to retry: the bot's disk is full"),
        ("resolve", DISK_FULL_FETCH, "Waiting to retry: the bot's disk is full"),
    ],
    ids=["fetch-502", "push-503", "disk-full", "fetch-disk-full"],
)
def test_an_apply_meeting_a_fault_answers_nothing_waits_and_applies_once_when_it_passes(
    method: str, error: Exception, waiting: str
) -> None:
    bench = ApplyBench()
    bench.deployment.fail[method] = error
    fault = faulted(lambda: bench.apply().run(merged()), FaultKind.DISK if "disk" in waiting else FaultKind.GIT)
    assert str(fault).startswith(waiting.removeprefix("Waiting to retry: ") + ": ")
    assert answers(bench.forge) == []
    assert states(bench.forge, MERGE) == [
        (CommitState.PENDING, "Applying the changed pipelines"),
        (CommitState.PENDING, waiting),
    ]
    assert bench.locks.released == []  # the pull request's locks are held until the merge is applied

    del bench.deployment.fail[method]  # the remote (the disk) is back
    bench.deployment.calls.clear()
    assert bench.apply().run(merged(attempts=2)) == "1 step(s), 0 failed"
    assert answers(bench.forge) == [(f"apply:{MERGE}", "ok")]
    assert [name for name, _ in bench.deployment.calls].count("publish") == 1
    assert bench.forge.last_status(MERGE).state is CommitState.SUCCESS
    assert CommitState.FAILURE not in [state for state, _ in states(bench.forge, MERGE)]
    assert bench.apply().run(merged(job_id=8, delivery="again")) == "answered by an earlier attempt"


def test_the_waiting_status_descriptions_are_golden() -> None:
    bench = ApplyBench()
    bench.deployment.fail["change_steps"] = FETCH_502
    faulted(lambda: bench.apply().run(merged()), FaultKind.GIT)
    check_golden("bot/status-waiting-git.txt", bench.forge.last_status(MERGE).description)
    bench.deployment.fail["change_steps"] = disk_full()
    faulted(lambda: bench.apply().run(merged()), FaultKind.DISK)
    check_golden("bot/status-waiting-disk-full.txt", bench.forge.last_status(MERGE).description)


def test_an_apply_whose_forge_fails_after_the_clients_retries_writes_nothing_and_is_retried() -> None:
    bench = ApplyBench()
    bench.forge.failing_reads, bench.forge.failing_status = {"read_file"}, 502
    faulted(lambda: bench.apply().run(merged()), FaultKind.FORGE)
    assert bench.forge.writes() == []  # not even a waiting status: the forge is the fault
    bench.forge.failing_reads = set()
    assert bench.apply().run(merged()) == "1 step(s), 0 failed"
    assert answers(bench.forge) == [(f"apply:{MERGE}", "ok")]


def test_an_apply_whose_forge_refuses_is_not_a_transient_fault() -> None:
    bench = ApplyBench()
    bench.forge.failing_reads = {"read_file"}  # 403
    with pytest.raises(ForgeError):
        bench.apply().run(merged())


def test_a_database_fault_after_the_answer_finishes_with_one_answer_and_one_final_status() -> None:
    bench = ApplyBench()
    bench.locks.fail_release.append(sqlite3.OperationalError("database is locked"))
    faulted(lambda: bench.apply().run(merged()), FaultKind.STORE)
    assert answers(bench.forge) == [(f"apply:{MERGE}", "ok")]
    assert bench.apply().run(merged(attempts=2)) == "answered by an earlier attempt"
    assert answers(bench.forge) == [(f"apply:{MERGE}", "ok")]
    assert [name for name, _ in bench.deployment.calls].count("publish") == 1
    finals = [state for state, _ in states(bench.forge, MERGE) if state is not CommitState.PENDING]
    assert finals == [CommitState.SUCCESS]
    assert len(bench.locks.released) == 1


@pytest.mark.parametrize("error", [PUSH_REFUSED, PublishError("refused to write `../x/`: the path leaves the layout")])
def test_a_push_refused_for_its_own_reason_is_answered_as_failed(error: Exception) -> None:
    bench = ApplyBench()
    bench.deployment.fail["publish"] = error
    assert bench.apply().run(merged()) == "apply failed"
    assert answers(bench.forge) == [(f"apply:{MERGE}", "failed")]
    assert bench.forge.last_status(MERGE).state is CommitState.FAILURE


def _old_answer(reason: str) -> str:
    """An apply's answer as kpops-bot wrote it before faults were retried."""
    body = f"#### kpops-bot: apply of `{MERGE[:12]}` failed\n\n❌ Nothing was applied: {reason}"
    return with_answer_line(f"apply:{MERGE}", body, "failed")


def test_a_merge_delivered_again_after_an_old_answer_of_a_502_is_applied_once() -> None:
    bench = ApplyBench()
    bench.forge.add_comment(1, _old_answer(str(FETCH_502)), BOT)
    bench.forge.set_status(bench.forge, MERGE, CommitState.FAILURE, "Apply failed: see the pull request")  # type: ignore[arg-type]
    assert bench.apply().run(merged(job_id=8, delivery="again")) == "1 step(s), 0 failed"
    assert answers(bench.forge) == [(f"apply:{MERGE}", "failed"), (f"apply:{MERGE}", "ok")]
    assert bench.forge.last_status(MERGE).state is CommitState.SUCCESS
    assert bench.forge.last_status(MERGE).target_url == bench.forge.threads[1][-1].url
    assert bench.apply().run(merged(job_id=9, delivery="third")) == "answered by an earlier attempt"
    assert [name for name, _ in bench.deployment.calls].count("publish") == 1


@pytest.mark.parametrize(
    "reason",
    [
        "push rejected five times",
        str(PUSH_REFUSED),
        f"cannot fetch {URL}: fatal: Authentication failed for '{URL}/'",
        ".kpops-bot.yaml: environments: the requested URL returned error: 502",  # not a git failure, whatever it says
    ],
)
def test_an_old_answer_of_the_jobs_own_failure_stands(reason: str) -> None:
    bench = ApplyBench()
    bench.forge.add_comment(1, _old_answer(reason), BOT)
    assert bench.apply().run(merged(job_id=8, delivery="again")) == "answered by an earlier attempt"
    assert "publish" not in [name for name, _ in bench.deployment.calls]
    assert bench.forge.last_status(MERGE).state is CommitState.FAILURE


# Commands


def test_a_command_whose_lookup_meets_a_forge_502_is_not_answered_and_runs_once_later() -> None:
    bench = CommandBench()
    bench.forge.failing_reads, bench.forge.failing_status = {"pull_request"}, 502
    first = bench.job("/kpops deploy word-count")
    faulted(lambda: bench.workflow().run(first), FaultKind.FORGE)
    assert bench.forge.writes() == []
    bench.forge.failing_reads = set()
    assert bench.workflow().run(dataclasses.replace(first, attempts=2)) == "ran 1 command(s)"
    assert len(answers(bench.forge)) == 1 and "❌" not in bench.answer()
    assert bench.forge.reacted == [(1, 55, "eyes")]


@pytest.mark.parametrize(
    ("method", "error", "kind"),
    [
        ("command_steps", FETCH_502, FaultKind.GIT),
        ("publish", PUSH_503, FaultKind.GIT),
        ("run", disk_full(), FaultKind.DISK),
    ],
    ids=["fetch-502", "push-503", "disk-full"],
)
def test_a_command_meeting_a_fault_is_not_answered_then_runs_and_answers_once(
    method: str, error: Exception, kind: FaultKind
) -> None:
    bench = CommandBench()
    first = bench.job("/kpops deploy word-count")
    bench.deployment.fail[method] = error
    faulted(lambda: bench.workflow().run(first), kind)
    assert answers(bench.forge) == []
    del bench.deployment.fail[method]
    bench.deployment.calls.clear()
    assert bench.workflow().run(dataclasses.replace(first, attempts=2)) == "ran 1 command(s)"
    assert len(answers(bench.forge)) == 1 and "❌" not in bench.answer()
    assert bench.forge.reacted == [(1, 55, "eyes")]  # reacted once, across both runs
    assert [name for name, _ in bench.deployment.calls].count("publish") == 1


def test_a_diff_command_on_a_full_disk_is_not_answered() -> None:
    bench = CommandBench()
    bench.diff.error = disk_full()
    fault = faulted(lambda: bench.comment("/kpops diff"), FaultKind.DISK)
    assert str(fault).startswith("the bot's disk is full: ")
    assert answers(bench.forge) == []


def test_a_command_whose_push_is_refused_is_answered_with_the_reason() -> None:
    bench = CommandBench()
    bench.deployment.fail["publish"] = PUSH_REFUSED
    assert bench.comment("/kpops deploy word-count") == "failed: PublishError"
    assert "pre-receive hook declined" in bench.answer()


# Previews


def _preview(forge: RecordingForge, diff: FakeDiff, **overrides: object) -> PreviewWorkflow:
    return PreviewWorkflow(settings(**overrides), lambda _forge: forge, diff, lambda _job, _kinds: None)


@pytest.mark.parametrize("error", [disk_full(), DISK_FULL_FETCH], ids=["cache-write", "git-fetch"])
def test_a_preview_on_a_full_disk_says_the_disk_is_full_not_repository_not_readable(error: Exception) -> None:
    forge, diff = RecordingForge(), FakeDiff(error=error)
    preview_job = job(pull_request_event(), JobKind.PREVIEW)
    fault = faulted(lambda: _preview(forge, diff).run(preview_job), FaultKind.DISK)
    assert str(fault).startswith("the bot's disk is full: ")  # what the worker logs
    assert forge.bot_bodies(1) == []  # no "repository not readable" on the pull request
    assert forge.last_status(HEAD).state is CommitState.PENDING
    assert forge.last_status(HEAD).description == "Waiting to retry: the bot's disk is full"
    diff.error, diff.report = None, scaled_report()  # space freed
    _preview(forge, diff).run(dataclasses.replace(preview_job, attempts=2))
    assert len(forge.bot_bodies(1)) == 1
    assert forge.last_status(HEAD).state is CommitState.SUCCESS


def test_a_preview_meeting_a_git_502_waits_with_the_sandbox_note() -> None:
    forge = RecordingForge()
    preview = PreviewWorkflow(
        settings(), lambda _forge: forge, FakeDiff(error=FETCH_502), lambda _job, _kinds: None, unsandboxed=True
    )
    faulted(lambda: preview.run(job(pull_request_event(), JobKind.PREVIEW)), FaultKind.GIT)
    description = forge.last_status(HEAD).description
    assert description == "Waiting to retry: the git remote answered 502 (rendered without sandbox)"


def test_a_preview_whose_forge_fails_writes_nothing_more() -> None:
    forge = RecordingForge(failing_reads={"read_file"}, failing_status=503)
    faulted(
        lambda: _preview(forge, FakeDiff(scaled_report())).run(job(pull_request_event(), JobKind.PREVIEW)),
        FaultKind.FORGE,
    )
    assert forge.writes() == []


def test_a_finished_status_is_not_taken_back_to_waiting() -> None:
    forge = RecordingForge()
    forge.set_status(forge, HEAD, CommitState.SUCCESS, "Pipelines: 1 changed")  # type: ignore[arg-type]
    retried = dataclasses.replace(job(pull_request_event(), JobKind.PREVIEW), attempts=2)  # an earlier run finished
    faulted(lambda: _preview(forge, FakeDiff(error=DISK_FULL_FETCH)).run(retried), FaultKind.DISK)
    assert states(forge, HEAD) == [(CommitState.SUCCESS, "Pipelines: 1 changed")]


def test_a_repository_that_cannot_be_read_is_still_said_on_the_pull_request() -> None:
    forge = RecordingForge()
    error = git_failure(WorkspaceError, f"revision 'x' not found in {URL}", "fatal: bad revision 'x'")
    outcome = _preview(forge, FakeDiff(error=error)).run(job(pull_request_event(), JobKind.PREVIEW))
    assert outcome == "no preview: repository not readable"
    assert forge.last_status(HEAD).state is CommitState.ERROR


def test_a_preview_run_again_after_an_uncounted_fault_does_not_take_its_final_status_back_to_pending() -> None:
    """The worker does not count a fault as an attempt: the run after it may say `attempts == 1`, and its outcome
    tells that an earlier run failed (here after the final status was written, on the check run)."""
    forge = RecordingForge()
    forge.set_status(forge, HEAD, CommitState.SUCCESS, "Pipelines: 1 changed")  # type: ignore[arg-type]
    again = dataclasses.replace(
        job(pull_request_event(), JobKind.PREVIEW), outcome="TransientFault: the forge answered 502: GitHub check run"
    )
    _preview(forge, FakeDiff(scaled_report())).run(again)
    assert [state for state, _ in states(forge, HEAD)] == [CommitState.SUCCESS, CommitState.SUCCESS]  # now linked
    _preview(forge, FakeDiff(scaled_report())).run(job(pull_request_event(), JobKind.PREVIEW, job_id=9))  # a new job
    assert [state for state, _ in states(forge, HEAD)][-2:] == [CommitState.PENDING, CommitState.SUCCESS]


def test_closing_on_a_locked_database_is_retried_and_marks_the_report_once() -> None:
    bench = ApplyBench()
    close = job(pull_request_event(PullRequestAction.CLOSED), JobKind.CLOSE)
    bench.locks.fail_release.append(sqlite3.OperationalError("database is locked"))
    faulted(lambda: bench.close().run(close), FaultKind.STORE)
    assert bench.close().run(close) == "marked 1 comment(s) outdated"
    assert bench.forge.writes() == ["edit_comment"]


def test_a_waiting_status_the_forge_cannot_take_leaves_the_fault_as_it_was(caplog: pytest.LogCaptureFixture) -> None:
    forge = RecordingForge(failing_reads={"status"}, failing_status=502)  # the git host and the forge both failing
    faulted(
        lambda: _preview(forge, FakeDiff(error=FETCH_502)).run(job(pull_request_event(), JobKind.PREVIEW)),
        FaultKind.GIT,
    )
    assert [state for state, _ in states(forge, HEAD)] == [CommitState.PENDING]  # the run's own pending status
    assert "the waiting status of" in caplog.text and "could not be written" in caplog.text


def test_a_preview_whose_database_is_locked_waits_and_says_so() -> None:
    forge = RecordingForge()

    def locked(_job: Job, _kinds: object) -> Job | None:
        raise sqlite3.OperationalError("database is locked")

    preview = PreviewWorkflow(settings(), lambda _forge: forge, FakeDiff(scaled_report()), locked)
    faulted(lambda: preview.run(job(pull_request_event(), JobKind.PREVIEW)), FaultKind.STORE)
    assert forge.bot_bodies(1) == []
    check_golden("bot/status-waiting-store.txt", forge.last_status(HEAD).description)
