"""What every command runner of one comment shares: the event, the pull request, the settings, the collaborators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, TypeVar

from kpops_bot.events.model import CommentEvent
from kpops_bot.fault_causes import raise_if_transient
from kpops_bot.masking import Masker
from kpops_bot.model.forge import ForgeClient, ForgeError, PullRequest
from kpops_bot.repo_config import Effective
from kpops_bot.settings import BotSettings
from kpops_bot.workflows.commands.authorization import Accepted
from kpops_bot.workflows.ports import DeploymentRepository, DiffRunner, HeadRecord, LockBook, OpenRepository
from kpops_bot.workflows.steps import Step

T = TypeVar("T")


class CommandFailure(Exception):
    """A command that cannot go on for a reason its author can act on (unknown pipeline, bad environment)."""


class LookupFailed(Exception):
    """A forge lookup the commands need before anything runs failed for good: `what` could not be read, and why
    (a forge that answered 5xx or not at all is a `TransientFault`: the comment is answered when it is back)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


def look_up(what: str, call: Callable[[], T]) -> T:
    """`call()`, its `ForgeError` told as the `LookupFailed` of `what` (the pull request, a file, a permission),
    unless the forge's failure passes (then the `TransientFault` it is)."""
    try:
        return call()
    except ForgeError as error:
        raise_if_transient(error)
        raise LookupFailed(what, str(error)) from error


@dataclass(frozen=True)
class Collaborators:
    """What the command runners reach outside the comment through."""

    settings: BotSettings
    diff: DiffRunner
    locks: LockBook
    open_repository: OpenRepository
    record_head: HeadRecord


@dataclass(frozen=True)
class CommandContext:
    """What every runner of one comment reads; nothing in it changes while the comment is handled."""

    event: CommentEvent
    client: ForgeClient
    pull: PullRequest  # its head_sha is the head the comment is bound to (`bound_head`), not the live one
    config: Effective
    masker: Masker
    resumed: bool  # the comment waited for a lock and runs again: it was acknowledged and answered once
    collaborators: Collaborators

    @cached_property
    def repository(self) -> DeploymentRepository:
        """The deployment repository, fetched once per comment, when a command first needs it."""
        return self.collaborators.open_repository(self.event.repository, self.client)


@dataclass(frozen=True)
class Answered:
    """A command done by planning it (help, diff, unlock): its section of the answer."""

    section: str


@dataclass(frozen=True)
class Acting:
    """A command that acts on pipelines: the steps to lock, and what runs them once the locks are held."""

    steps: list[Step]
    run: Callable[[], str]  # the command's section of the answer


class CommandRunner(Protocol):
    """One comment command. All commands of a comment are planned first, then their steps locked at once."""

    def plan(self, context: CommandContext, accepted: Accepted) -> Answered | Acting: ...
