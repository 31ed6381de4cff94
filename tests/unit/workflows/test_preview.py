"""The preview workflow, every branch, against a recording forge and a fake dry run: no git, no kpops."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from kpops_bot.diff.compute import build_report
from kpops_bot.engine.targets import UnknownPipelineError
from kpops_bot.events.model import PullRequestAction
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import CommitState
from kpops_bot.report import notices
from kpops_bot.store import Job
from kpops_bot.version import bot_version
from kpops_bot.workflows.preview import PreviewWorkflow, superseded_status
from kpops_bot.workspace import WorkspaceError
from tests.support.fake_collaborators import FakeDiff
from tests.support.golden import check_golden
from tests.support.recording_forge import RecordingForge
from tests.support.reports import mixed_report, scaled_report, word_count_report
from tests.support.workflow_kit import HEAD, REPOSITORY, job, pull_request_event, settings

CONFIG = ".kpops-bot.yaml"
NEWER_HEAD = "abc1234" + "e" * 33


class Newer:
    """Says a newer job (`newer`, a preview of another head by default) was queued from the `after`-th question on."""

    def __init__(self, after: int | None = None, newer: Job | None = None) -> None:
        self.after = after
        self.newer = newer or dataclasses.replace(preview_job(head_sha=NEWER_HEAD), id=8, head_sha=NEWER_HEAD)
        self.asked: list[Sequence[JobKind]] = []

    def __call__(self, job: Job, kinds: Sequence[JobKind]) -> Job | None:
        self.asked.append(kinds)
        return self.newer if self.after is not None and len(self.asked) > self.after else None


def preview(forge: RecordingForge, diff: FakeDiff, newer: Newer | None = None, **overrides: object) -> PreviewWorkflow:
    return PreviewWorkflow(settings(**overrides), lambda _forge: forge, diff, newer or Newer())


def preview_job(**changes: object) -> Job:
    return job(pull_request_event(**changes), JobKind.PREVIEW)  # type: ignore[arg-type]


def test_a_report_becomes_the_sticky_comment_and_a_success_status_linking_it() -> None:
    forge, diff = RecordingForge(), FakeDiff(scaled_report())
    outcome = preview(forge, diff).run(preview_job())
    assert outcome == "reported 1 pipeline(s) in 1 comment(s), status success"
    [body] = forge.bot_bodies(1)
    check_golden("bot/report-scaled.md", body)
    assert forge.writes() == ["set_status", "create_comment", "set_status"]
    assert forge.statuses[0].state is CommitState.PENDING
    final = forge.last_status(HEAD)
    assert (final.state, final.description) == (CommitState.SUCCESS, "Pipelines: 1 changed")
    assert final.target_url == forge.threads[1][0].url
    request, trusted = diff.requests[0]
    assert (request.base, request.head, list(request.environments), trusted) == ("main", HEAD, ["dev"], True)


def test_a_failed_render_or_blocking_risk_fails_the_status() -> None:
    forge = RecordingForge()
    preview(forge, FakeDiff(mixed_report())).run(preview_job())
    status = forge.last_status(HEAD)
    assert status.state is CommitState.FAILURE
    assert status.description.startswith("1 pipeline(s) failed to render")
    preview(forge, FakeDiff(word_count_report())).run(preview_job())  # a partition decrease: danger, blocking
    status = forge.last_status(HEAD)
    assert (status.state, status.description) == (CommitState.FAILURE, "Blocking risk found (1 changed)")


def test_a_second_run_edits_the_parts_there_are_and_deletes_what_is_left_over() -> None:
    forge = RecordingForge(comment_limit=8_000)
    preview(forge, FakeDiff(mixed_report())).run(preview_job())
    first = forge.bot_bodies(1)
    assert len(first) > 1
    for number, body in enumerate(first, start=1):
        check_golden(f"bot/report-mixed-part-{number}.md", body)
    forge.calls.clear()
    preview(forge, FakeDiff(word_count_report())).run(preview_job())
    assert len(forge.bot_bodies(1)) < len(first)
    assert "create_comment" not in forge.writes()
    assert "edit_comment" in forge.writes() and "delete_comment" in forge.writes()


def test_nothing_affected_gives_success_without_a_comment_or_replaces_an_old_report() -> None:
    forge, nothing = RecordingForge(), FakeDiff(build_report("b" * 40, HEAD, "manifest", ["dev"], []))
    assert preview(forge, nothing).run(preview_job()) == "no pipeline affected"
    assert forge.bot_bodies(1) == []
    assert (forge.last_status(HEAD).state, forge.last_status(HEAD).description) == (
        CommitState.SUCCESS,
        "No pipeline affected",
    )
    preview(forge, FakeDiff(word_count_report())).run(preview_job())
    preview(forge, nothing).run(preview_job())
    [note] = forge.bot_bodies(1)
    assert note == notices.nothing_affected(HEAD)
    check_golden("bot/nothing-affected.md", note)


def test_a_fork_is_not_rendered_unless_the_operator_allows_it() -> None:
    forge, diff = RecordingForge(), FakeDiff(word_count_report())
    assert preview(forge, diff).run(preview_job(from_fork=True)) == "fork not previewed"
    assert diff.requests == []
    [note] = forge.bot_bodies(1)
    check_golden("bot/fork-not-previewed.md", note)
    status = forge.last_status(HEAD)
    assert (status.state, status.description) == (CommitState.SUCCESS, "Not previewed: pull request from a fork")
    preview(forge, diff, allow_fork_previews=True).run(preview_job(from_fork=True))
    assert diff.requests[0][1] is False  # rendered without the secret variables


def test_an_invalid_repository_config_is_answered_and_the_status_is_error() -> None:
    forge = RecordingForge(files={(CONFIG, "main"): "previews: [not, a, flag]\n"})
    outcome = preview(forge, FakeDiff(word_count_report())).run(preview_job())
    assert outcome == "no preview: invalid .kpops-bot.yaml"
    [note] = forge.bot_bodies(1)
    check_golden("bot/preview-failed-config.md", note)
    status = forge.last_status(HEAD)
    assert (status.state, status.description) == (CommitState.ERROR, "No preview: invalid .kpops-bot.yaml")


def test_previews_switched_off_by_the_repository_write_nothing() -> None:
    forge = RecordingForge(files={(CONFIG, "main"): "previews: false\n"})
    assert preview(forge, FakeDiff(word_count_report())).run(preview_job()) == "previews are off in .kpops-bot.yaml"
    assert forge.writes() == []


@pytest.mark.parametrize(
    "error",
    [WorkspaceError("git fetch failed: https://x:s3cret-value@forge.test"), UnknownPipelineError("no such pipeline")],
)
def test_an_unreadable_repository_is_answered_masked(error: Exception) -> None:
    forge = RecordingForge()
    assert preview(forge, FakeDiff(error=error)).run(preview_job()) == "no preview: repository not readable"
    [note] = forge.bot_bodies(1)
    assert "s3cret-value" not in note
    assert forge.last_status(HEAD).state is CommitState.ERROR
    if isinstance(error, WorkspaceError):
        check_golden("bot/preview-failed-repository.md", note)


def test_a_superseded_preview_reports_nothing_and_finishes_its_pending_status() -> None:
    forge, diff = RecordingForge(), FakeDiff(word_count_report())
    assert preview(forge, diff, Newer(after=0)).run(preview_job()) == "superseded by a newer push"
    assert forge.writes() == [] and diff.requests == []  # no status to finish: none was set
    assert preview(forge, diff, Newer(after=1)).run(preview_job()) == "superseded by a newer push"
    assert [(s.state, s.description) for s in forge.statuses] == [
        (CommitState.PENDING, "Rendering the pipelines this change affects"),
        (CommitState.SUCCESS, "Superseded by abc1234"),
    ]
    assert forge.bot_bodies(1) == []


def test_a_pending_status_a_crash_left_is_finished_when_the_resumed_job_is_superseded() -> None:
    forge = RecordingForge()
    forge.set_status(REPOSITORY, HEAD, CommitState.PENDING, "Rendering the pipelines this change affects")
    assert preview(forge, FakeDiff(), Newer(after=0)).run(preview_job()) == "superseded by a newer push"
    assert forge.last_status(HEAD).state is CommitState.SUCCESS


@pytest.mark.parametrize(
    ("newer", "expected"),
    [
        (dict(kind=JobKind.CLOSE), "Not previewed: the pull request was closed"),
        (dict(kind=JobKind.PREVIEW, head_sha=HEAD), None),  # the newer job reports this head
        (dict(kind=JobKind.PREVIEW, head_sha=NEWER_HEAD), "Superseded by abc1234"),
    ],
)
def test_what_a_superseded_head_is_told(newer: dict[str, object], expected: str | None) -> None:
    later = dataclasses.replace(preview_job(), id=9, **newer)  # type: ignore[arg-type]
    assert superseded_status(HEAD, later) == expected


def test_giving_up_sets_an_error_status_that_points_to_the_log() -> None:
    forge = RecordingForge()
    preview(forge, FakeDiff()).give_up(preview_job(action=PullRequestAction.UPDATED), RuntimeError("boom"))
    status = forge.last_status(HEAD)
    assert (status.state, status.description) == (CommitState.ERROR, "kpops-bot failed (job 7); see the bot's log")


def test_the_footer_links_the_pull_requests_timeline_when_the_status_page_has_an_address() -> None:
    forge = RecordingForge()
    preview(forge, FakeDiff(scaled_report()), status_url="https://bot.example/status/").run(preview_job())
    [body] = forge.bot_bodies(1)
    footer = body[body.index("\n---\n") :]
    key = f"github%3A{REPOSITORY.full_name.replace('/', '%2F')}%231"
    assert f"[this pull request's timeline](https://bot.example/status/pull?key={key})" in footer
    assert f"kpops-bot {bot_version()}" in footer
    assert "`/kpops reset word-count` (write)" in footer
