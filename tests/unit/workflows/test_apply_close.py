"""Apply and close, every branch, against a recording forge and fake collaborators: no git, no kpops."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kpops_bot.events.model import Forge, PullRequestAction, Repository
from kpops_bot.gitops.publish import COMMIT_TRAILER, PublishError
from kpops_bot.gitops.target import ResourceChanges
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import CommitState
from kpops_bot.model.locks import Resource
from kpops_bot.model.render import Operation
from kpops_bot.report import notices
from kpops_bot.report.identity import single_part
from kpops_bot.settings import OperationMode
from kpops_bot.workflows.apply import ApplyWorkflow
from kpops_bot.workflows.close import CloseWorkflow
from kpops_bot.workflows.steps import Step
from kpops_bot.workspace import WorkspaceError
from tests.support.fake_collaborators import FakeDeployment, FakeLocks, pipeline
from tests.support.golden import check_golden
from tests.support.recording_forge import BOT, RecordingForge
from tests.support.workflow_kit import (
    BEFORE,
    HEAD,
    MERGE,
    job,
    pull,
    pull_request_event,
    push_event,
    queued,
    settings,
)

KEY = "github:acme/deployments"
REPORT = single_part("### kpops-bot dry run\n\nword-count changed")
APPLY = JobKind.APPLY
UNUSED = queued("k", JobKind.COMMAND)


def changed(*names: str, removed: tuple[str, ...] = ()) -> list[Step]:
    return [Step(Operation.DEPLOY, pipeline(name), "dev", "x") for name in names] + [
        Step(Operation.DESTROY, pipeline(name), "dev", "x") for name in removed
    ]


@dataclass
class Bench:
    forge: RecordingForge = field(default_factory=RecordingForge)
    locks: FakeLocks = field(default_factory=FakeLocks)
    deployment: FakeDeployment = field(default_factory=lambda: FakeDeployment(planned=changed("word-count")))
    overrides: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.forge.add_comment(1, REPORT, BOT)
        self.forge.add_comment(1, "nice", "bob")
        self.locks.acquire(KEY, 1, [Resource("dev", "word-count")], wait_key="c1", then=UNUSED)
        self.locks.acquire(KEY, 2, [Resource("dev", "word-count")], wait_key="c2", then=UNUSED)

    def apply(self) -> ApplyWorkflow:
        return ApplyWorkflow(settings(**self.overrides), lambda _f: self.forge, self.deployment.open, self.locks)

    def close(self) -> CloseWorkflow:
        return CloseWorkflow(lambda _f: self.forge, self.locks)

    def report(self) -> str:
        return self.forge.bot_bodies(1)[0]

    def answer(self) -> str:
        return self.forge.bot_bodies(1)[-1]


def merged(merge_commit_sha: str | None = MERGE) -> object:
    return job(pull_request_event(PullRequestAction.MERGED, merge_commit_sha=merge_commit_sha), JobKind.APPLY)


def test_closing_releases_the_locks_and_line_and_marks_the_report_outdated_once() -> None:
    bench = Bench()
    close = job(pull_request_event(PullRequestAction.CLOSED), JobKind.CLOSE)
    assert bench.close().run(close) == "marked 1 comment(s) outdated"
    assert bench.locks.released == [(KEY, 1, None, True)]
    assert bench.locks.held == {}
    assert [waiter[2] for waiter in bench.locks.waiters] == [2]  # still in line: its job is queued again
    check_golden("bot/report-outdated-closed.md", bench.report())
    assert bench.forge.bodies(1)[1] == "nice"
    bench.forge.calls.clear()
    bench.close().run(close)
    assert bench.forge.writes() == []  # marked already
    bench.close().give_up(close, RuntimeError("boom"))
    assert bench.forge.writes() == []


def test_a_merge_where_merges_are_not_applied_says_so_not_closed_without_merging() -> None:
    bench = Bench()
    bench.close().run(job(pull_request_event(PullRequestAction.MERGED, merge_commit_sha=MERGE), JobKind.CLOSE))
    report = bench.report()
    assert "closed without merging" not in report
    assert report == notices.mark_outdated(REPORT, notices.merged_not_applied(MERGE))
    check_golden("bot/report-outdated-merged-not-applied.md", report)


def test_a_merge_is_applied_published_answered_and_the_report_marked() -> None:
    changes = {
        "rendered/dev/word-count": ResourceChanges(1, 2, 0),
        "rendered/dev/legacy-export": ResourceChanges(0, 0, 4),
    }
    deployment = FakeDeployment(planned=changed("word-count", removed=("legacy-export",)), changes=changes)
    bench = Bench(deployment=deployment)
    assert bench.apply().run(merged()) == "2 step(s), 0 failed"
    [(_, (before, commit, head_sha))] = [call for call in bench.deployment.calls if call[0] == "change_steps"]
    assert (before, commit, head_sha) == (None, MERGE, HEAD)
    _, (branch, folders, message) = next(call for call in bench.deployment.calls if call[0] == "publish")
    assert branch == "main"
    assert folders == ("rendered/dev/word-count", "rendered/dev/legacy-export")
    check_golden("bot/commit-apply-merge.txt", message)
    assert message.endswith(f"{COMMIT_TRAILER}: {MERGE}\n")
    check_golden("bot/answer-applied.md", bench.answer())  # what changed per pipeline, not the manifests
    assert "kind: Deployment" not in bench.answer()
    check_golden("bot/report-outdated-merged.md", bench.report())
    statuses = [(s.state, s.description) for s in bench.forge.statuses]
    assert statuses == [(CommitState.PENDING, "Applying the changed pipelines"), (CommitState.SUCCESS, "Applied")]
    assert bench.forge.last_status(MERGE).target_url == bench.forge.threads[1][-1].url
    assert bench.locks.released == [(KEY, 1, None, True)]


def test_a_fast_forward_merge_asks_the_forge_for_its_commit() -> None:
    bench = Bench()
    bench.forge.pulls[1] = pull(1, merge_commit_sha=MERGE)
    bench.apply().run(merged(None))
    assert ("pull_request", (1,)) in bench.forge.calls
    assert bench.forge.last_status(MERGE).state is CommitState.SUCCESS


def test_a_push_is_applied_with_a_status_and_no_comment() -> None:
    bench = Bench()
    assert bench.apply().run(job(push_event(), JobKind.APPLY)) == "1 step(s), 0 failed"
    [(_, (before, commit, head_sha))] = [call for call in bench.deployment.calls if call[0] == "change_steps"]
    assert (before, commit, head_sha) == (BEFORE, MERGE, None)
    _, (_, _, message) = next(call for call in bench.deployment.calls if call[0] == "publish")
    check_golden("bot/commit-apply-push.txt", message)
    assert "create_comment" not in bench.forge.writes()
    assert bench.locks.released == []
    assert bench.forge.last_status(MERGE).state is CommitState.SUCCESS


def _one_merge_twice(forge: Forge, mode: OperationMode) -> tuple[Bench, object, object]:
    """A merge to a branch in `apply.push_branches`: its merge event's job and its push's, on `forge`."""
    repository = Repository(forge, "acme/deployments", "https://forge.test/acme/deployments.git")
    bench = Bench(forge=RecordingForge(forge=forge), overrides={"operation_mode": mode})
    merge = job(pull_request_event(PullRequestAction.MERGED, merge_commit_sha=MERGE, repository=repository), APPLY)
    return bench, merge, job(push_event(repository=repository), APPLY)


def _runs(bench: Bench) -> int:
    return sum(name == "run" for name, _ in bench.deployment.calls)


@pytest.mark.parametrize("mode", [OperationMode.MANIFEST, OperationMode.MANAGED])
@pytest.mark.parametrize("forge", [Forge.GITHUB, Forge.GITLAB])
def test_a_merge_whose_push_was_applied_first_applies_nothing_and_answers_once(
    forge: Forge, mode: OperationMode
) -> None:
    bench, merge, push = _one_merge_twice(forge, mode)
    assert bench.apply().run(push) == "1 step(s), 0 failed"
    statuses = list(bench.forge.statuses)
    assert bench.apply().run(merge) == "applied by its push already"
    assert _runs(bench) == 1  # managed mode: kpops deploy --execute ran once
    assert bench.forge.statuses == statuses  # the push's status stands: one pending, one final
    assert bench.locks.released == [(KEY.replace("github", forge.value), 1, None, True)]
    check_golden("bot/answer-applied-by-push.md", bench.answer())  # the same words on both forges
    assert bench.apply().run(merge) == "answered by an earlier attempt"  # redelivered: still one answer
    assert len([body for body in bench.forge.bot_bodies(1) if "applied `" in body]) == 1


@pytest.mark.parametrize("mode", [OperationMode.MANIFEST, OperationMode.MANAGED])
@pytest.mark.parametrize("forge", [Forge.GITHUB, Forge.GITLAB])
def test_a_push_of_a_merge_applied_first_writes_nothing(forge: Forge, mode: OperationMode) -> None:
    bench, merge, push = _one_merge_twice(forge, mode)
    assert bench.apply().run(merge) == "1 step(s), 0 failed"
    bench.forge.calls.clear()
    assert bench.apply().run(push) == "applied by its merge already"
    assert _runs(bench) == 1
    assert bench.forge.writes() == []


def test_a_failed_push_apply_is_not_applied_again_by_its_merge() -> None:
    bench, merge, push = _one_merge_twice(Forge.GITHUB, OperationMode.MANIFEST)
    bench.deployment.ok = {"word-count": False}
    assert bench.apply().run(push) == "1 step(s), 1 failed"
    assert bench.apply().run(merge) == "applied by its push already"
    assert _runs(bench) == 1
    assert "failed to apply" in bench.answer()


def test_nothing_changed_is_said_and_nothing_published() -> None:
    bench = Bench(deployment=FakeDeployment(planned=[]))
    bench.apply().run(merged())
    assert "publish" not in [name for name, _ in bench.deployment.calls]
    check_golden("bot/answer-applied-nothing.md", bench.answer())


def test_a_pipeline_that_does_not_render_fails_the_apply_and_the_rest_is_applied() -> None:
    bench = Bench(deployment=FakeDeployment(planned=changed("word-count", "team-a-orders"), ok={"word-count": False}))
    assert bench.apply().run(merged()) == "2 step(s), 1 failed"
    _, (_, folders, _) = next(call for call in bench.deployment.calls if call[0] == "publish")
    assert folders == ("rendered/dev/team-a-orders",)
    status = bench.forge.last_status(MERGE)
    assert (status.state, status.description) == (CommitState.FAILURE, "Apply failed: see the pull request")
    check_golden("bot/answer-apply-partly-failed.md", bench.answer())


def test_managed_mode_publishes_nothing() -> None:
    bench = Bench(overrides={"operation_mode": OperationMode.MANAGED})
    bench.apply().run(merged())
    assert "publish" not in [name for name, _ in bench.deployment.calls]


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("change_steps", WorkspaceError("fetch from https://t:s3cret-value@forge.test failed")),
        ("publish", PublishError("push rejected five times")),
    ],
)
def test_git_and_push_failures_apply_nothing_and_are_answered_masked(method: str, error: Exception) -> None:
    bench = Bench()
    bench.deployment.fail[method] = error
    assert bench.apply().run(merged()) == "apply failed"
    assert "s3cret-value" not in bench.answer()
    assert bench.forge.last_status(MERGE).state is CommitState.FAILURE
    if method == "publish":
        check_golden("bot/answer-apply-failed.md", bench.answer())


def test_an_invalid_repository_config_applies_nothing() -> None:
    bench = Bench()
    bench.forge.files[(".kpops-bot.yaml", MERGE)] = "environments: [dev]\n"
    assert bench.apply().run(merged()) == "invalid config"
    assert bench.deployment.calls == []
    check_golden("bot/answer-apply-invalid-config.md", bench.answer())
    push = Bench()
    push.forge.files[(".kpops-bot.yaml", MERGE)] = "environments: [dev]\n"
    push.apply().run(job(push_event(), JobKind.APPLY))
    assert (push.forge.last_status(MERGE).state, push.forge.last_status(MERGE).description) == (
        CommitState.FAILURE,
        "Apply failed",
    )


def test_giving_up_sets_an_error_status_and_releases_the_pull_request() -> None:
    bench = Bench()
    bench.apply().give_up(merged(), RuntimeError("boom"))  # type: ignore[arg-type]
    status = bench.forge.last_status(MERGE)
    assert (status.state, status.description) == (CommitState.ERROR, "kpops-bot failed (job 7); see the bot's log")
    assert bench.locks.released == [(KEY, 1, None, True)]
    assert notices.OUTDATED_BANNER in bench.report()
    push = Bench()
    push.apply().give_up(job(push_event(), JobKind.APPLY), RuntimeError("boom"))
    assert push.locks.released == []


def test_a_failed_apply_longer_than_a_comment_is_cut_to_the_limit_with_its_failed_outcome_whole() -> None:
    """The room was once counted with the marker of a success (`ok`): a failed answer came out 4 characters over."""
    bench = Bench(forge=RecordingForge(comment_limit=1_000))
    bench.deployment.fail["publish"] = PublishError("push rejected: " + "hook said no; " * 200)
    assert bench.apply().run(merged()) == "apply failed"
    answer = bench.answer()
    assert len(answer) == 1_000
    assert answer.startswith(f"<!-- kpops-bot:answer apply:{MERGE} failed -->\n")
    assert answer.endswith("(cut here: the answer is longer than one comment may be)")
