"""Every forge write happens once: a job whose forge call was stored but never answered is retried, and the retry
completes what is missing and repeats nothing (answers, reactions, statuses, applies)."""

from __future__ import annotations

import dataclasses

import pytest

from kpops_bot.events.model import PullRequestAction
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import CommitState, ForgeError
from kpops_bot.report.identity import answer_of
from kpops_bot.workflows.preview import PreviewWorkflow
from tests.support.fake_collaborators import FakeDiff
from tests.support.recording_forge import RecordingForge
from tests.support.reports import scaled_report
from tests.support.workflow_kit import MERGE, job, pull_request_event, settings
from tests.unit.workflows.test_apply_close import Bench as ApplyBench
from tests.unit.workflows.test_commands import Bench as CommandBench


def _answers(forge: RecordingForge, number: int = 1) -> list[str]:
    return [body for body in forge.bot_bodies(number) if answer_of(body) is not None]


@pytest.mark.parametrize("lost", ["react", "create_comment"])
def test_a_command_whose_write_was_stored_but_not_answered_is_answered_once_and_run_once(lost: str) -> None:
    bench = CommandBench()
    bench.forge.lost_answer = lost
    first = bench.job("/kpops deploy word-count")
    with pytest.raises(ForgeError):
        bench.workflow().run(first)
    outcome = bench.workflow().run(dataclasses.replace(first, attempts=2))
    assert bench.forge.reacted == [(1, 55, "eyes")]
    assert len(_answers(bench.forge)) == 1
    runs = [call for call in bench.deployment.calls if call[0] == "run"]
    if lost == "create_comment":
        assert outcome == "answered by an earlier attempt"
        assert len(runs) == 1  # the answer tells it ran: the retry does not run it again
    else:
        assert outcome == "ran 1 command(s)"


def test_a_command_given_up_after_its_answer_was_stored_posts_no_failure() -> None:
    bench = CommandBench()
    bench.forge.lost_answer = "create_comment"
    failing = bench.job("/kpops help")
    with pytest.raises(ForgeError):
        bench.workflow().run(failing)
    bench.workflow().give_up(failing, ForgeError("gone"))
    (answer,) = _answers(bench.forge)
    assert "kpops help" in answer


def test_a_command_given_up_before_any_answer_posts_one_failure_even_when_given_up_twice() -> None:
    bench = CommandBench()
    failing = bench.job("/kpops help")
    bench.workflow().give_up(failing, ForgeError("gone"))
    bench.workflow().give_up(failing, ForgeError("gone"))
    (answer,) = _answers(bench.forge)
    assert f"job {failing.id}" in answer


def test_a_resumed_comment_is_answered_apart_from_its_wait() -> None:
    bench = CommandBench()
    bench.comment("/kpops deploy word-count", number=2)
    assert bench.comment("/kpops deploy word-count") == "waiting for a lock, position 1"
    bench.locks.release("github:acme/deployments", 2)
    assert bench.comment("/kpops deploy word-count", resumed=True) == "ran 1 command(s)"
    assert bench.comment("/kpops deploy word-count", resumed=True) == "answered by an earlier attempt"
    assert [answer_of(body) for body in _answers(bench.forge)] == [("comment:56", ""), ("comment:56:resumed", "")]


def _merged(job_id: int = 7, delivery: str = "d1") -> object:
    event = dataclasses.replace(pull_request_event(PullRequestAction.MERGED, merge_commit_sha=MERGE), delivery=delivery)
    return job(event, JobKind.APPLY, job_id=job_id)


@pytest.mark.parametrize("lost", ["create_comment", "set_status"])
def test_an_apply_whose_answer_or_status_was_not_answered_finishes_without_applying_again(lost: str) -> None:
    bench = ApplyBench()
    bench.forge.lost_answer = lost
    bench.forge.lost_answer_at = 2 if lost == "set_status" else 1  # the final status, after the pending one
    with pytest.raises(ForgeError):
        bench.apply().run(_merged())  # type: ignore[arg-type]
    assert bench.apply().run(_merged()) == "answered by an earlier attempt"  # type: ignore[arg-type]
    assert len(_answers(bench.forge)) == 1
    assert [name for name, _ in bench.deployment.calls].count("publish") == 1
    finals = [status for status in bench.forge.statuses if status.state is not CommitState.PENDING]
    assert [(status.sha, status.state) for status in finals] == [(MERGE, CommitState.SUCCESS)]
    assert finals[0].target_url == bench.forge.threads[1][-1].url


def test_the_same_merge_delivered_again_applies_and_answers_nothing_new() -> None:
    bench = ApplyBench()
    bench.apply().run(_merged())  # type: ignore[arg-type]
    writes = len(bench.forge.writes())
    calls = len(bench.deployment.calls)
    assert bench.apply().run(_merged(job_id=8, delivery="d-again")) == "answered by an earlier attempt"  # type: ignore[arg-type]
    assert len(bench.forge.writes()) == writes
    assert len(bench.deployment.calls) == calls


def test_an_apply_given_up_after_its_answer_keeps_the_answers_outcome() -> None:
    bench = ApplyBench()
    bench.deployment.ok["word-count"] = False
    bench.forge.lost_answer = "create_comment"
    with pytest.raises(ForgeError):
        bench.apply().run(_merged())  # type: ignore[arg-type]
    bench.apply().give_up(_merged(), ForgeError("gone"))  # type: ignore[arg-type]
    assert bench.forge.last_status(MERGE).state is CommitState.FAILURE
    assert len(_answers(bench.forge)) == 1


def test_somebody_quoting_an_answer_marker_is_not_taken_for_the_bots_answer() -> None:
    bench = ApplyBench()
    bench.forge.add_comment(1, "<!-- kpops-bot:answer apply:" + MERGE + " ok -->\nfake", "mallory")
    assert bench.apply().run(_merged()) == "1 step(s), 0 failed"  # type: ignore[arg-type]
    assert len(_answers(bench.forge)) == 1  # the bot's own


def test_a_retried_preview_does_not_take_its_finished_status_back_to_pending() -> None:
    forge = RecordingForge()
    forge.lost_answer, forge.lost_answer_at = "set_status", 2  # the final status stored, its answer lost
    first = job(pull_request_event(), JobKind.PREVIEW)
    workflow = PreviewWorkflow(settings(), lambda _forge: forge, FakeDiff(scaled_report()), lambda _job, _kinds: None)
    with pytest.raises(ForgeError):
        workflow.run(first)
    workflow.run(dataclasses.replace(first, attempts=2))
    assert [status.state for status in forge.statuses] == [CommitState.PENDING, CommitState.SUCCESS]
    assert len(forge.bot_bodies(1)) == 1
    workflow.run(job(pull_request_event(PullRequestAction.REOPENED), JobKind.PREVIEW, job_id=9))  # a new job: pending
    assert [status.state for status in forge.statuses][-2:] == [CommitState.PENDING, CommitState.SUCCESS]
