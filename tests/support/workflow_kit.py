"""Events, jobs and settings for the workflows' unit tests: plain data, as the worker hands a job over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpops_bot.events.model import (
    CommentEvent,
    Event,
    Forge,
    PullRequestAction,
    PullRequestEvent,
    PushEvent,
    Repository,
)
from kpops_bot.jobs import CommandRequest, DriftCheck, Job, JobKind, JobPayload, JobState, NewJob
from kpops_bot.model.forge import PullRequest, PullState, Review
from kpops_bot.settings import BotSettings

REPOSITORY = Repository(Forge.GITHUB, "acme/deployments", "https://forge.test/acme/deployments.git")
HEAD = "a" * 40
MERGE = "b" * 40
BEFORE = "c" * 40


def settings(tmp_path: Path | None = None, **overrides: Any) -> BotSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path or Path("unused"),
        "environments": {"main": ["dev"]},
        "secrets": ["s3cret-value"],
        **overrides,
    }
    return BotSettings(**values)


def job(event: Event, kind: JobKind, job_id: int = 7, **command: Any) -> Job[Any]:
    """The job as the worker hands it to the workflow of `kind`; `command`: a command's `resumed` and `head`."""
    payload = CommandRequest(event, **command) if isinstance(event, CommentEvent) else event
    return Job(
        id=job_id, key="key", head_sha=None, state=JobState.RUNNING, attempts=1, lease_owner="test", outcome=None,
        kind=kind, payload=payload,
    )  # fmt: skip


def pull_request_event(
    action: PullRequestAction = PullRequestAction.OPENED,
    *,
    number: int = 1,
    head_sha: str = HEAD,
    from_fork: bool = False,
    merge_commit_sha: str | None = None,
    repository: Repository = REPOSITORY,
    author: str | None = "alice",
    labels: tuple[str, ...] | None = (),  # None: the delivery names none (the forge is asked)
) -> PullRequestEvent:
    return PullRequestEvent(
        delivery="d1",
        repository=repository,
        number=number,
        action=action,
        base_ref="main",
        head_sha=head_sha,
        from_fork=from_fork,
        merge_commit_sha=merge_commit_sha,
        author=author,
        labels=labels,
    )


def comment_event(body: str, *, number: int = 1, author: str = "alice", comment_id: int = 55) -> CommentEvent:
    return CommentEvent("d2", REPOSITORY, number, comment_id, author, body, edited=False, author_is_bot=False)


def push_event(
    branch: str = "main", before: str = BEFORE, after: str = MERGE, repository: Repository = REPOSITORY
) -> PushEvent:
    return PushEvent("d3", repository, f"refs/heads/{branch}", before, after, deleted=False)


def pull(
    number: int = 1,
    *,
    state: PullState = PullState.OPEN,
    reviews: tuple[Review, ...] = (),
    mergeable: bool | None = True,
    from_fork: bool = False,
    merge_commit_sha: str | None = None,
) -> PullRequest:
    return PullRequest(
        number=number,
        state=state,
        author="alice",
        base_ref="main",
        head_sha=HEAD,
        from_fork=from_fork,
        reviews=reviews,
        mergeable=mergeable,
        merge_commit_sha=merge_commit_sha,
        url=f"https://forge.test/acme/deployments/pull/{number}",
    )


def queued(
    key: str,
    kind: JobKind | str = JobKind.DRIFT,
    head_sha: str | None = None,
    supersedes: tuple[str, ...] = (),
    supersedes_key: str | None = None,
) -> NewJob:
    """A job for a test of the queue (store, worker, locks), where only its key and kind matter: a payload its
    kind carries (a pull request event of `head_sha`, a help comment, a drift check)."""
    kind = JobKind(kind)
    payload: JobPayload
    if kind is JobKind.COMMAND:
        payload = CommandRequest(comment_event("/kpops help"))
    elif kind is JobKind.DRIFT:
        payload = DriftCheck(Forge.GITHUB, REPOSITORY.full_name, "main")
    else:
        payload = pull_request_event(head_sha=head_sha or HEAD)
    return NewJob(key, kind, payload, head_sha, tuple(JobKind(each) for each in supersedes), supersedes_key)
