"""Which job, if any, an event makes: pure, so every rule is tested with plain data."""

from __future__ import annotations

import fnmatch

from kpops_bot.commands.parse import addresses_bot
from kpops_bot.events.model import (
    CommentEvent,
    Event,
    Ignored,
    PullRequestAction,
    PullRequestEvent,
    PushEvent,
)
from kpops_bot.jobs import CommandRequest, JobKind, NewJob, branch_key, pull_request_key
from kpops_bot.settings import BotSettings

_PREVIEW_ACTIONS = {
    PullRequestAction.OPENED,
    PullRequestAction.REOPENED,
    PullRequestAction.UPDATED,
    PullRequestAction.READY,
}


def job_for(event: Event, settings: BotSettings) -> NewJob | Ignored:
    repository = event.repository
    if not settings.serves(repository.forge, repository.full_name):
        return Ignored(f"repository {repository.full_name} is not in this bot's allowlist")
    if isinstance(event, PullRequestEvent):
        return _pull_request_job(event, settings)
    if isinstance(event, CommentEvent):
        return _comment_job(event)
    return _push_job(event, settings)


def _pull_request_job(event: PullRequestEvent, settings: BotSettings) -> NewJob | Ignored:
    key = pull_request_key(event)
    if event.action in _PREVIEW_ACTIONS:
        # A newer head makes a queued preview pointless, and so does a queued "closed".
        return NewJob(key, JobKind.PREVIEW, event, head_sha=event.head_sha, supersedes=(JobKind.PREVIEW,))
    if event.action is PullRequestAction.MERGED and settings.apply.on_merge:
        # Keyed by the branch like a push's apply: the merge and its push (`apply.push_branches`) run one after the
        # other, and the second finds what the first applied (`workflows/apply.py`). The pull request's queued
        # previews are pointless all the same.
        return NewJob(
            branch_key(event.repository, event.base_ref),
            JobKind.APPLY,
            event,
            head_sha=event.merge_commit_sha or event.head_sha,
            supersedes=(JobKind.PREVIEW,),
            supersedes_key=key,
        )
    # Closed, or merged with apply off: the report is outdated and the pull request's locks go.
    return NewJob(key, JobKind.CLOSE, event, head_sha=event.head_sha, supersedes=(JobKind.PREVIEW,))


def _comment_job(event: CommentEvent) -> NewJob | Ignored:
    if event.edited:
        return Ignored("edited comments do not run commands")
    if event.author_is_bot:
        return Ignored("comments of bots do not run commands")
    if not addresses_bot(event.body):
        return Ignored("no /kpops command in the comment")
    # GitLab's note names the head it was written on; GitHub's does not (recorded when the job first runs).
    return NewJob(pull_request_key(event), JobKind.COMMAND, CommandRequest(event), head_sha=event.head_sha)


def _push_job(event: PushEvent, settings: BotSettings) -> NewJob | Ignored:
    branch = event.branch
    if branch is None or event.deleted:
        return Ignored("only pushes of branches are applied")
    if not any(fnmatch.fnmatchcase(branch, pattern) for pattern in settings.apply.push_branches):
        return Ignored(f"pushes to {branch} are not applied (apply.push_branches)")
    if set(event.before) == {"0"}:
        return Ignored(f"a new branch is not applied: push to {branch} again to apply it")
    return NewJob(branch_key(event.repository, branch), JobKind.APPLY, event, head_sha=event.after)
