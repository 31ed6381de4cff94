"""The comment command workflow, every branch, against a recording forge and fake collaborators: no git, no kpops."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from kpops_bot.commands.catalog import CommandName
from kpops_bot.diff.compute import build_report
from kpops_bot.faults import TransientFault
from kpops_bot.gitops.publish import COMMIT_TRAILER, PublishError
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import Permission, PullState, Review, Verdict
from kpops_bot.model.locks import Resource
from kpops_bot.model.render import Operation
from kpops_bot.settings import OperationMode
from kpops_bot.store import Job
from kpops_bot.workflows.commands import RUNNERS, CommandWorkflow
from kpops_bot.workflows.steps import Step
from kpops_bot.workspace import WorkspaceError
from tests.support.fake_collaborators import FakeDeployment, FakeDiff, FakeLocks, pipeline
from tests.support.golden import check_golden
from tests.support.recording_forge import BOT, RecordingForge
from tests.support.reports import scaled_report
from tests.support.workflow_kit import HEAD, comment_event, job, pull, settings

KEY = "github:acme/deployments"


@dataclass
class Bench:
    """A command workflow with its fakes; `comment` runs one comment as a job."""

    forge: RecordingForge = field(default_factory=RecordingForge)
    diff: FakeDiff = field(default_factory=lambda: FakeDiff(scaled_report()))
    locks: FakeLocks = field(default_factory=FakeLocks)
    deployment: FakeDeployment = field(default_factory=FakeDeployment)
    overrides: dict[str, object] = field(default_factory=dict)
    heads: dict[int, str] = field(default_factory=dict)  # the head each job recorded, as `Store.record_head` keeps it
    comment_id: int = 54  # each comment gets the next id; a resumed one keeps the id of the comment it resumes

    def __post_init__(self) -> None:
        self.forge.pulls.setdefault(1, pull(1))
        self.forge.pulls.setdefault(2, pull(2))
        self.forge.permissions.setdefault("alice", Permission.WRITE)

    def workflow(self) -> CommandWorkflow:
        return CommandWorkflow(
            settings(**self.overrides),
            lambda _forge: self.forge,
            self.diff,
            self.locks,
            self.deployment.open,
            self.heads.setdefault,
        )

    def job(
        self, body: str, *, number: int = 1, author: str = "alice", resumed: bool = False, head: str | None = None
    ) -> Job:
        """`head`: the head the delivery names (GitLab's note does; routing makes it the job's head)."""
        extra = {"resumed": True} if resumed else {}
        if not resumed:
            self.comment_id += 1
        event = replace(comment_event(body, number=number, author=author, comment_id=self.comment_id), head_sha=head)
        return replace(job(event, JobKind.COMMAND, self.comment_id, **extra), head_sha=head)

    def comment(self, body: str, **kwargs: object) -> str:
        return self.workflow().run(self.job(body, **kwargs))  # type: ignore[arg-type]

    def answer(self, number: int = 1) -> str:
        return self.forge.bot_bodies(number)[-1]


def test_every_command_has_a_runner() -> None:
    assert set(RUNNERS) == set(CommandName)


def test_the_bots_own_comments_and_comments_without_a_command_do_nothing() -> None:
    bench = Bench()
    assert bench.comment("/kpops help", author=BOT) == "the bot's own comment"
    assert bench.comment("looks good\n```\n/kpops deploy\n```") == "no command"
    assert bench.forge.writes() == []


def test_help_is_answered_from_the_bots_settings_alone() -> None:
    bench = Bench()
    assert bench.comment("/kpops help") == "answered 1 command(s)"
    assert [name for name, _ in bench.forge.calls] == ["comments", "create_comment"]  # no pull request, no config
    check_golden("bot/answer-help.md", bench.answer())


def test_help_among_other_commands_tells_the_repositorys_mode() -> None:
    bench = Bench()
    bench.forge.files[(".kpops-bot.yaml", "main")] = "operation_mode: argo\n"
    bench.comment("/kpops help\n/kpops diff word-count")
    assert "This repository runs commands in `argo` mode" in bench.answer()


def test_help_restricted_to_a_role_is_checked_like_any_command() -> None:
    bench = Bench(overrides={"commands": {"roles": {"help": "maintain"}}})
    bench.comment("/kpops help")
    assert "`help` needs maintain permission" in bench.answer()
    assert ("permission", ("alice",)) in bench.forge.calls


def test_unknown_commands_and_missing_permissions_are_answered_without_a_reaction() -> None:
    bench = Bench()
    bench.forge.permissions["bob"] = Permission.READ
    bench.comment("/kpops rest word-count\n/kpops reset word-count", author="bob")
    assert bench.forge.reacted == []
    assert bench.deployment.calls == []
    check_golden("bot/answer-rejected-and-refused.md", bench.answer())


def test_an_invalid_repository_config_is_answered() -> None:
    bench = Bench()
    bench.forge.files[(".kpops-bot.yaml", "main")] = "operation_mode: yolo\n"
    assert bench.comment("/kpops diff word-count") == "invalid repository config"
    check_golden("bot/answer-invalid-config.md", bench.answer())


def test_diff_replies_with_the_report_without_its_marker() -> None:
    bench = Bench()
    bench.comment("/kpops diff word-count")
    answer = bench.answer()
    assert "kpops-bot:diff" not in answer
    check_golden("bot/answer-diff.md", answer)
    request, trusted = bench.diff.requests[0]
    assert (list(request.only), trusted) == (["word-count"], True)


def test_diff_of_nothing_affected_and_of_a_fork_say_so() -> None:
    bench = Bench(diff=FakeDiff(build_report("b" * 40, HEAD, "manifest", ["dev"], [])))
    bench.comment("/kpops diff team-a-orders")
    check_golden("bot/answer-diff-nothing-affected.md", bench.answer())
    bench.forge.pulls[1] = pull(1, from_fork=True)
    bench.comment("/kpops diff")
    check_golden("bot/answer-diff-fork.md", bench.answer())
    assert len(bench.diff.requests) == 1


def test_deploy_takes_the_locks_runs_commits_to_gitops_and_links_the_commit() -> None:
    bench = Bench()
    assert bench.comment("/kpops deploy word-count") == "ran 1 command(s)"
    assert bench.locks.held == {(KEY, Resource("dev", "word-count")): 1}
    _, (branch, folders, message) = next(call for call in bench.deployment.calls if call[0] == "publish")
    assert (branch, folders) == ("main", ("rendered/dev/word-count",))
    assert message.startswith("kpops-bot: deploy word-count for #1\n")
    assert message.endswith(f"\n{COMMIT_TRAILER}: {HEAD}\n")
    check_golden("bot/commit-command-deploy.txt", message)
    _, (steps, run_id, execute, trusted) = next(call for call in bench.deployment.calls if call[0] == "run")
    assert [step.pipeline.name for step in steps] == ["word-count"]
    assert (run_id, execute, trusted) == ("c55", True, True)
    check_golden("bot/answer-deploy.md", bench.answer())


def test_a_forks_dry_run_deploy_renders_without_secret_variables() -> None:
    bench = Bench(overrides={"allow_fork_previews": True})
    bench.forge.pulls[1] = pull(1, from_fork=True)
    bench.comment("/kpops deploy word-count --dry-run")
    _, (_, _, execute, trusted) = next(call for call in bench.deployment.calls if call[0] == "run")
    assert (execute, trusted) == (False, False)


def test_a_dry_run_takes_no_lock_and_publishes_nothing() -> None:
    bench = Bench()
    bench.comment("/kpops reset word-count --dry-run")
    assert bench.locks.held == {}
    assert [name for name, _ in bench.deployment.calls] == ["command_steps", "resolve", "run"]
    check_golden("bot/answer-dry-run.md", bench.answer())


def test_managed_mode_runs_kpops_and_commits_nothing() -> None:
    bench = Bench(overrides={"operation_mode": OperationMode.MANAGED})
    bench.comment("/kpops deploy word-count")
    assert "publish" not in [name for name, _ in bench.deployment.calls]


def test_the_gitops_target_already_having_everything_makes_no_commit() -> None:
    bench = Bench(deployment=FakeDeployment(publish_commit=None, kept_newer=["rendered/dev/word-count"]))
    bench.comment("/kpops deploy word-count")
    check_golden("bot/answer-deploy-nothing-new.md", bench.answer())


def test_a_commit_that_removes_expired_one_off_jobs_names_them() -> None:
    expired = "rendered/dev/word-count/jobs/job-word-count-word-counter-clean-c41.yaml"
    bench = Bench(deployment=FakeDeployment(removed_jobs=[expired]))
    bench.comment("/kpops reset word-count")
    answer = bench.answer()
    assert f"Removed one-off jobs past their retention: `{expired}`." in answer
    check_golden("bot/answer-reset-removed-expired-jobs.md", answer)


def test_a_held_pipeline_makes_the_comment_wait_then_run_when_resumed() -> None:
    bench = Bench()
    bench.comment("/kpops deploy word-count", number=2)
    assert bench.comment("/kpops deploy word-count") == "waiting for a lock, position 1"
    check_golden("bot/answer-waiting.md", bench.answer())
    [(_, _, _, _, then)] = bench.locks.waiters
    assert (then.kind, then.payload.resumed) == (JobKind.COMMAND, True)
    answers = len(bench.forge.bot_bodies(1))
    assert bench.comment("/kpops deploy word-count", resumed=True) == "still waiting for a lock"
    assert len(bench.forge.bot_bodies(1)) == answers  # said so already
    bench.locks.release(KEY, 2)
    bench.forge.reacted.clear()
    assert bench.comment("/kpops deploy word-count", resumed=True) == "ran 1 command(s)"
    assert bench.forge.reacted == []  # acknowledged the first time
    assert "Waiting" not in bench.answer()


MOVED = "02bb1347" + "e" * 32  # what a fork pushes after the comment


def _deploys(bench: Bench) -> list[object]:
    return [args for name, args in bench.deployment.calls if name in ("run", "publish")]


def test_a_fork_head_pushed_while_the_deploy_waits_for_a_lock_is_refused_naming_both_commits() -> None:
    """The attack: a writer's `/kpops deploy` on a fork's head waits for a lock; the fork pushes meanwhile. GitHub's
    comment names no head: the job recorded the one it saw first, and the resumed comment is held to it."""
    bench = Bench(overrides={"commands": {"allow_fork_deploy": True}})
    bench.forge.pulls[1] = pull(1, from_fork=True)
    bench.comment("/kpops deploy word-count", number=2)
    deployed = len(_deploys(bench))
    assert bench.comment("/kpops deploy word-count") == "waiting for a lock, position 1"
    [(_, _, _, _, then)] = bench.locks.waiters
    assert (then.head_sha, then.payload.head) == (HEAD, HEAD)  # the wait keeps the head it was written on
    bench.forge.pulls[1] = replace(pull(1, from_fork=True), head_sha=MOVED)
    bench.locks.release(KEY, 2)
    bench.heads.clear()  # the resumed job is bound by what it carries, not by a record it could miss
    resumed = bench.job("/kpops deploy word-count", resumed=True)
    bench.workflow().run(replace(resumed, payload=then.payload, head_sha=then.head_sha))  # as the lock queues it
    assert len(_deploys(bench)) == deployed
    check_golden("bot/answer-head-moved.md", bench.answer())
    assert (bench.locks.left, bench.locks.waiters) == ([f"comment:{bench.comment_id}"], [])  # out of the line


def test_a_retried_command_keeps_the_head_its_first_run_recorded() -> None:
    """A fault after the head was read (the config read answering 502): the retry runs the recorded head's rules."""
    bench = Bench()
    first = bench.job("/kpops deploy word-count")
    bench.forge.failing_reads, bench.forge.failing_status = {"read_file"}, 502
    with pytest.raises(TransientFault):
        bench.workflow().run(first)
    bench.forge.failing_reads = set()
    bench.forge.pulls[1] = replace(pull(1), head_sha=MOVED)
    bench.workflow().run(first)
    assert _deploys(bench) == []
    assert "moved from `aaaaaaa` to `02bb134`" in bench.answer()


def test_a_gitlab_note_is_bound_to_the_head_its_delivery_names() -> None:
    """GitLab's note names the head: a job queued while the head moved is refused on its first run."""
    bench = Bench()
    bench.forge.pulls[1] = replace(pull(1), head_sha=MOVED)
    bench.comment("/kpops deploy word-count\n/kpops diff", head=HEAD)
    assert _deploys(bench) == [] and bench.diff.requests == [] and bench.locks.held == {}
    assert bench.heads == {}  # nothing to record: the delivery said
    answer = bench.answer()
    assert "comment again to deploy `02bb134`" in answer and "comment again to diff `02bb134`" in answer


def test_a_head_that_did_not_move_is_the_head_deployed_and_approved() -> None:
    bench = Bench(overrides={"commands": {"require_approval": ["deploy"]}})
    bench.forge.pulls[1] = replace(pull(1, reviews=(Review("carol", Verdict.APPROVED, HEAD),)))
    bench.forge.permissions["carol"] = Permission.WRITE
    assert bench.comment("/kpops deploy word-count", head=HEAD) == "ran 1 command(s)"
    [(steps, *_)] = [args for name, args in bench.deployment.calls if name == "run"]
    assert {step.commit for step in steps} == {HEAD}
    bench.forge.pulls[1] = replace(bench.forge.pulls[1], head_sha=MOVED)  # the approval is of the old head
    bench.comment("/kpops deploy word-count", head=HEAD)
    assert "the head moved from `aaaaaaa`" in bench.answer()  # judged for the commented head, approved


def test_deploy_without_names_acts_on_what_the_pull_request_changes() -> None:
    planned = [Step(Operation.DEPLOY, pipeline("team-a-orders"), "dev", HEAD)]
    bench = Bench(deployment=FakeDeployment(planned=planned))
    bench.comment("/kpops deploy")
    assert bench.locks.held == {(KEY, Resource("dev", "team-a-orders")): 1}


def test_a_failed_step_is_reported_and_nothing_of_it_published() -> None:
    bench = Bench(deployment=FakeDeployment(ok={"team-a-orders": False}))
    bench.comment("/kpops deploy word-count team-a-orders")
    _, (_, folders, _) = next(call for call in bench.deployment.calls if call[0] == "publish")
    assert folders == ("rendered/dev/word-count",)
    check_golden("bot/answer-deploy-partly-failed.md", bench.answer())


def test_an_environment_not_deployed_from_the_base_branch_is_refused() -> None:
    bench = Bench()
    assert bench.comment("/kpops deploy word-count --environment prod") == "failed: CommandFailure"
    check_golden("bot/answer-bad-environment.md", bench.answer())


def test_an_unknown_pipeline_a_git_error_and_a_failed_push_are_answered_masked() -> None:
    bench = Bench()
    assert bench.comment("/kpops deploy word-cont") == "failed: UnknownPipelineError"
    assert bench.answer().endswith("❌ unknown pipeline 'word-cont'; the pipelines are word-count, team-a-orders")
    bench.deployment.fail["command_steps"] = WorkspaceError("fetch of https://t:s3cret-value@forge.test failed")
    assert bench.comment("/kpops deploy word-count") == "failed: WorkspaceError"
    assert "s3cret-value" not in bench.answer() and "***" in bench.answer()
    del bench.deployment.fail["command_steps"]
    bench.deployment.fail["publish"] = PublishError("push rejected five times")
    assert bench.comment("/kpops deploy word-count") == "failed: PublishError"
    check_golden("bot/answer-publish-failed.md", bench.answer())


def test_cluster_commands_need_an_open_pull_request() -> None:
    bench = Bench()
    bench.forge.pulls[1] = pull(1, state=PullState.MERGED)
    bench.comment("/kpops destroy word-count")
    bench.forge.permissions["alice"] = Permission.MAINTAIN
    bench.comment("/kpops destroy word-count")
    check_golden("bot/answer-refused-not-open.md", bench.answer())


def test_unlock_releases_what_the_pull_request_holds_and_says_who_goes_on() -> None:
    bench = Bench()
    bench.comment("/kpops unlock")
    check_golden("bot/answer-unlock-nothing-held.md", bench.answer())
    bench.comment("/kpops deploy word-count team-a-orders")
    bench.comment("/kpops deploy word-count", number=2)
    bench.comment("/kpops unlock word-count")
    assert bench.locks.released[-1] == (KEY, 1, ["word-count"], False)
    check_golden("bot/answer-unlock.md", bench.answer())
    bench.comment("/kpops unlock word-count")
    check_golden("bot/answer-unlock-nothing-held-named.md", bench.answer())


def test_a_long_answer_is_cut_to_the_forges_limit() -> None:
    bench = Bench(forge=RecordingForge(comment_limit=1_000))
    bench.comment("/kpops help")
    assert len(bench.answer()) <= 1_000
    assert bench.answer().endswith("(cut here: the answer is longer than one comment may be)")


def test_giving_up_says_so_in_the_thread() -> None:
    bench = Bench()
    bench.workflow().give_up(replace(bench.job("/kpops deploy word-count"), id=7), RuntimeError("boom"))
    check_golden("bot/answer-command-failed.md", bench.answer())


def test_a_named_environment_mapped_to_the_base_branch_is_the_only_one_acted_on() -> None:
    bench = Bench(overrides={"environments": {"main": ["dev", "prod"]}})
    bench.comment("/kpops deploy word-count --environment prod")
    _, (_, _, environments) = next(call for call in bench.deployment.calls if call[0] == "command_steps")
    assert environments == ("prod",)
    assert bench.locks.held == {(KEY, Resource("prod", "word-count")): 1}


def test_a_resumed_comment_does_not_repeat_its_rejections() -> None:
    bench = Bench()
    bench.forge.permissions["bob"] = Permission.READ
    bench.comment("/kpops rest\n/kpops help", author="bob", resumed=True)
    assert "rest" not in bench.answer()
    assert "| command | needs | does |" in bench.answer()


def test_a_mistyped_command_is_answered_without_any_lookup() -> None:
    bench = Bench()
    assert bench.comment("/kpops rest word-count") == "answered 0 command(s)"
    assert [name for name, _ in bench.forge.calls] == ["comments", "create_comment"]  # no pull request, no config
    check_golden("bot/answer-mistyped.md", bench.answer())


def test_help_and_typos_are_answered_while_the_forge_serves_no_pull_request() -> None:
    bench = Bench()
    bench.forge.failing_reads = {"pull_request", "read_file", "permission"}
    assert bench.comment("/kpops help") == "answered 1 command(s)"
    check_golden("bot/answer-help.md", bench.answer())
    assert bench.comment("/kpops rest word-count") == "answered 0 command(s)"
    assert bench.comment("/kpops hepl\n/kpops help") == "answered 1 command(s)"
    assert "unknown command `hepl`" in bench.answer() and "| command | needs | does |" in bench.answer()
    assert not {"pull_request", "read_file", "permission"} & {name for name, _ in bench.forge.calls}


@pytest.mark.parametrize(
    ("failing", "golden"),
    [
        ("pull_request", "answer-pull-request-unreadable.md"),
        ("read_file", "answer-config-unreadable.md"),
        ("permission", "answer-permission-unreadable.md"),
    ],
)
def test_a_command_whose_lookup_fails_gets_an_answer_naming_it(failing: str, golden: str) -> None:
    bench = Bench()
    bench.forge.failing_reads = {failing}
    assert bench.comment("/kpops reset word-count").startswith("lookup failed: ")
    answer = bench.answer()
    check_golden(f"bot/{golden}", answer)
    assert f"GitHub {failing.replace('_', ' ')}: HTTP 403" in answer and "nothing ran" in answer
    assert bench.deployment.calls == [] and bench.forge.reacted == []


def test_an_approval_whose_reviewers_permission_cannot_be_read_is_answered() -> None:
    bench = Bench(overrides={"commands": {"require_approval": ["reset"]}})
    bench.forge.pulls[1] = pull(1, reviews=(Review("bob", Verdict.APPROVED, HEAD),))
    bench.forge.failing_reads = {"permission"}
    assert bench.comment("/kpops reset word-count") == "lookup failed: the permission of `bob`"
    assert "could not read the permission of `bob` from the forge" in bench.answer()


def test_the_answer_collects_refusals_then_each_runners_section_then_the_error_that_ended_the_comment() -> None:
    bench = Bench()
    bench.forge.permissions["alice"] = Permission.WRITE
    outcome = bench.comment("/kpops diff word-count\n/kpops destroy word-count\n/kpops help\n/kpops deploy word-cont")
    assert outcome == "failed: UnknownPipelineError"
    answer = bench.answer()
    refused, diff, help_, failure = (
        answer.index("🚫 `/kpops destroy word-count`"),
        answer.index("**`/kpops diff word-count`**"),
        answer.index("| command | needs | does |"),
        answer.index("❌ unknown pipeline 'word-cont'"),
    )
    assert refused < diff < help_ < failure
    assert answer.startswith("<!-- kpops-bot:answer comment:55 -->\n#### kpops-bot: `/kpops diff word-count`, ")


def test_a_resumed_comment_tells_only_what_changed_since_its_first_run() -> None:
    bench = Bench()
    bench.forge.permissions["bob"] = Permission.READ
    bench.comment("/kpops reset word-count\n/kpops unlock", author="bob")
    assert "needs write permission" in bench.answer()
    told = len(bench.forge.bot_bodies(1))
    again = bench.comment("/kpops reset word-count\n/kpops unlock", author="bob", resumed=True)
    assert again == "answered 0 command(s)"
    assert len(bench.forge.bot_bodies(1)) == told  # both refusals were told on the first run: nothing new to say
