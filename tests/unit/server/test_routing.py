from __future__ import annotations

from typing import Any

import pytest

from kpops_bot.events.codec import dump_event, load_event
from kpops_bot.events.model import (
    CommentEvent,
    Forge,
    Ignored,
    PullRequestAction,
    PullRequestEvent,
    PushEvent,
    Repository,
)
from kpops_bot.jobs import CommandRequest, JobKind
from kpops_bot.server.routing import job_for
from kpops_bot.settings import ApplySettings, BotSettings
from kpops_bot.store import NewJob

PREVIEW, CLOSE, COMMAND, APPLY = JobKind.PREVIEW, JobKind.CLOSE, JobKind.COMMAND, JobKind.APPLY

REPO = Repository(Forge.GITLAB, "acme/platform/deployments", "https://gitlab.example.com/acme.git", 42)


def _pull(action: PullRequestAction, **extra: Any) -> PullRequestEvent:
    values: dict[str, Any] = {
        "delivery": "d",
        "repository": REPO,
        "number": 5,
        "action": action,
        "base_ref": "main",
        "head_sha": "a" * 40,
        "from_fork": False,
        **extra,
    }
    return PullRequestEvent(**values)


@pytest.mark.parametrize(
    "action", [PullRequestAction.OPENED, PullRequestAction.REOPENED, PullRequestAction.UPDATED, PullRequestAction.READY]
)
def test_pull_request_changes_make_a_preview_that_supersedes_queued_previews(action: PullRequestAction) -> None:
    job = job_for(_pull(action), BotSettings())
    assert isinstance(job, NewJob)
    assert (job.kind, job.key, job.head_sha, tuple(job.supersedes)) == (
        PREVIEW,
        "gitlab:acme/platform/deployments#5",
        "a" * 40,
        (PREVIEW,),
    )
    assert job.payload == _pull(action)  # the job carries the whole event


def test_closing_makes_a_close_job_and_merging_an_apply_at_the_merge_commit() -> None:
    close = job_for(_pull(PullRequestAction.CLOSED), BotSettings())
    assert isinstance(close, NewJob)
    assert (close.kind, tuple(close.supersedes)) == (CLOSE, (PREVIEW,))
    merged = _pull(PullRequestAction.MERGED, merge_commit_sha="b" * 40)
    apply = job_for(merged, BotSettings())
    assert isinstance(apply, NewJob)
    assert (apply.kind, apply.key, apply.head_sha) == (APPLY, "gitlab:acme/platform/deployments@main", "b" * 40)
    # Serialised with the push of the same merge (one key per branch); the pull request's previews still go.
    assert (tuple(apply.supersedes), apply.supersedes_key) == ((PREVIEW,), "gitlab:acme/platform/deployments#5")
    off = job_for(merged, BotSettings(apply=ApplySettings(on_merge=False)))
    assert isinstance(off, NewJob) and off.kind == CLOSE  # locks are still released, the report marked outdated


def _comment(body: str, **extra: Any) -> CommentEvent:
    values: dict[str, Any] = {"edited": False, "author_is_bot": False, **extra}
    return CommentEvent("d", REPO, 5, 1, "alice", body, **values)


def test_comments_with_a_command_make_a_command_job_others_are_ignored_with_a_reason() -> None:
    job = job_for(_comment("LGTM\n/kpops reset word-count"), BotSettings())
    assert isinstance(job, NewJob)
    assert (job.kind, job.key) == (COMMAND, "gitlab:acme/platform/deployments#5")
    assert job.payload == CommandRequest(_comment("LGTM\n/kpops reset word-count"))  # not resumed: its first run
    assert job.head_sha is None  # a comment naming no head (GitHub's): the job records it when it first runs
    noted = job_for(_comment("/kpops deploy", head_sha="a" * 40), BotSettings())
    assert isinstance(noted, NewJob) and noted.head_sha == "a" * 40  # a note naming its head (GitLab's) binds the job
    assert job_for(_comment("/kpops help", edited=True), BotSettings()) == Ignored(
        "edited comments do not run commands"
    )
    assert job_for(_comment("/kpops help", author_is_bot=True), BotSettings()) == Ignored(
        "comments of bots do not run commands"
    )
    assert job_for(_comment("see /kpops help\n```\n/kpops help\n```"), BotSettings()) == Ignored(
        "no /kpops command in the comment"
    )


def _push(before: str = "a" * 40, **extra: Any) -> PushEvent:
    values: dict[str, Any] = {"deleted": False, **extra}
    return PushEvent("d", REPO, values.pop("ref", "refs/heads/main"), before, "b" * 40, **values)


def test_pushes_to_configured_branches_are_applied_whatever_their_message_says() -> None:
    settings = BotSettings(apply=ApplySettings(push_branches=["main", "release/*"]))
    job = job_for(_push(), settings)
    assert isinstance(job, NewJob)
    assert (job.kind, job.key, job.head_sha) == (APPLY, "gitlab:acme/platform/deployments@main", "b" * 40)
    assert isinstance(job_for(_push(ref="refs/heads/release/1.2"), settings), NewJob)
    assert job_for(_push(), BotSettings()) == Ignored("pushes to main are not applied (apply.push_branches)")
    assert isinstance(job_for(_push(ref="refs/tags/v1"), settings), Ignored)
    assert isinstance(job_for(_push(deleted=True), settings), Ignored)
    assert isinstance(job_for(_push(before="0" * 40), settings), Ignored)
    assert load_event(dump_event(_push())) == _push()


@pytest.mark.parametrize(
    ("patterns", "served"),
    [
        (["*"], True),
        (["acme/*"], True),  # fnmatch: * also matches the subgroup's slash
        (["gitlab:acme/platform/*"], True),
        (["github:acme/*"], False),
        (["other/*"], False),
        ([], False),
    ],
)
def test_the_allowlist(patterns: list[str], served: bool) -> None:
    job = job_for(_pull(PullRequestAction.OPENED), BotSettings(repositories=patterns))
    assert isinstance(job, NewJob) is served
