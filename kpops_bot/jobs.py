"""The kinds of job the bot queues and the keys that serialise them: shared by routing and the workflows.

The store keeps a kind as its string value; work with one key runs one job at a time.
"""

from __future__ import annotations

from enum import StrEnum

from kpops_bot.events.model import CommentEvent, PullRequestEvent, Repository


class JobKind(StrEnum):
    PREVIEW = "preview"  # diff a pull request's head into the sticky comment
    CLOSE = "close"  # closed (or merged with apply off): report outdated, locks released
    COMMAND = "command"  # `/kpops ...` comment
    APPLY = "apply"  # merged pull request or push to a deploy branch
    DRIFT = "drift"  # compare a deploy branch's render with its GitOps target


def repository_key(repository: Repository) -> str:
    """How locks name a repository: `forge:full/name`."""
    return f"{repository.forge.value}:{repository.full_name}"


def pull_request_key(event: PullRequestEvent | CommentEvent) -> str:
    """Work for one pull request runs one job at a time."""
    return f"{repository_key(event.repository)}#{event.number}"


def branch_key(repository: Repository, branch: str) -> str:
    """Work for one branch (pushes applied) runs one job at a time."""
    return f"{repository_key(repository)}@{branch}"
