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
from kpops_bot.server.routing import CLOSE, PREVIEW, job_for
from kpops_bot.settings import BotSettings
from kpops_bot.store import NewJob

REPO = Repository(Forge.GITLAB, "acme/platform/deployments", "https://gitlab.example.com/acme.git", 42)


def _pull(action: PullRequestAction, **extra: Any) -> PullRequestEvent:
    values: dict[str, Any] = {
        "delivery": "d",
        "repository": REPO,
        "number": 5,
        "action": action,
        "author": "alice",
        "base_ref": "main",
        "head_ref": "feature",
        "head_sha": "a" * 40,
        "head_clone_url": REPO.clone_url,
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
    assert load_event(job.payload) == _pull(action)  # the job carries the whole event


def test_closing_makes_a_close_job_and_merging_is_not_handled_yet() -> None:
    close = job_for(_pull(PullRequestAction.CLOSED), BotSettings())
    assert isinstance(close, NewJob)
    assert (close.kind, tuple(close.supersedes)) == (CLOSE, (PREVIEW,))
    assert isinstance(job_for(_pull(PullRequestAction.MERGED, merge_commit_sha="b" * 40), BotSettings()), Ignored)


def test_comments_and_pushes_are_ignored_with_a_reason() -> None:
    comment = CommentEvent("d", REPO, 5, 1, "alice", "/kpops help", edited=False, author_is_bot=False)
    push = PushEvent("d", REPO, "refs/heads/main", "a" * 40, "b" * 40, deleted=False, pusher="alice")
    assert job_for(comment, BotSettings()) == Ignored("comment commands are not enabled on this bot")
    assert job_for(push, BotSettings()) == Ignored("pushes are not applied by this bot")
    assert load_event(dump_event(comment)) == comment
    assert load_event(dump_event(push)) == push


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
