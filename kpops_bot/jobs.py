"""The jobs the bot queues, their kinds and the keys that serialise them: shared by the store, routing and the
workflows, plain values so that the workflows' ports name them without loading the store.

The store keeps a kind as its string value; work with one key runs one job at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a newer delivery made it pointless before it ran


@dataclass(frozen=True)
class NewJob:
    key: str  # work with one key runs one at a time (a pull request, a branch)
    kind: str
    payload: dict[str, Any]
    head_sha: str | None = None
    supersedes: Sequence[str] = ()  # kinds of queued jobs with the same key this one makes pointless
    supersedes_key: str | None = None  # whose queued jobs it makes pointless, where not its own key's

    @property
    def superseded_key(self) -> str:
        """The key whose queued jobs of the `supersedes` kinds this one makes pointless."""
        return self.supersedes_key or self.key


@dataclass(frozen=True)
class Job:
    id: int
    key: str
    kind: str
    head_sha: str | None
    payload: dict[str, Any]
    state: JobState
    attempts: int
    lease_owner: str | None
    outcome: str | None
    replica_id: str | None = None  # the replica running it
    spared: int = 0  # tries that were not the job's fault: transient faults, a process dying with its store gone

    @property
    def counted(self) -> int:
        """The tries spent against `max_attempts`."""
        return self.attempts - self.spared
