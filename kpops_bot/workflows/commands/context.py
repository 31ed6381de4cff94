"""What every command runner of one comment shares: the event, the pull request, the settings, the collaborators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from kpops_bot.commands.parse import Command
from kpops_bot.events.model import CommentEvent
from kpops_bot.forges.base import ForgeClient, PullRequest
from kpops_bot.head_code import RunHead
from kpops_bot.masking import Masker
from kpops_bot.repo_config import Effective
from kpops_bot.settings import BotSettings
from kpops_bot.workflows.operate import Step
from kpops_bot.workflows.ports import DeploymentRepository, DiffRunner, LockBook, OpenRepository


class CommandFailure(Exception):
    """A command that cannot go on for a reason its author can act on (unknown pipeline, bad environment)."""


@dataclass(frozen=True)
class Collaborators:
    """What the command runners reach outside the comment through."""

    settings: BotSettings
    diff: DiffRunner
    locks: LockBook
    open_repository: OpenRepository


@dataclass
class CommandContext:
    event: CommentEvent
    client: ForgeClient
    pull: PullRequest
    config: Effective
    masker: Masker
    resumed: bool  # the comment waited for a lock and runs again: it was acknowledged and answered once
    collaborators: Collaborators
    sections: list[str] = field(default_factory=list)
    head_runs: dict[Command, RunHead] = field(default_factory=dict)  # how each command that runs the head runs it

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

    def plan(self, context: CommandContext, command: Command) -> Answered | Acting: ...
