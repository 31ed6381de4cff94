"""Every command the bot knows, declared once: its name, who may run it unless settings say otherwise, what it does,
and whether it runs the pull request's head. Pure.

Parsing, authorization, the head-code decision and the help text all read a command's declaration here, so adding a
command is one declaration and one runner module (`kpops_bot.workflows.commands`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kpops_bot.model.forge import Permission


class CommandName(StrEnum):
    HELP = "help"
    DIFF = "diff"
    DEPLOY = "deploy"
    DESTROY = "destroy"
    RESET = "reset"
    CLEAN = "clean"
    UNLOCK = "unlock"

    @property
    def declared(self) -> Declared:
        return DECLARED[self]

    @property
    def changes_cluster(self) -> bool:
        """It acts on what runs: it holds locks and honours --dry-run."""
        return self.declared.changes_cluster

    @property
    def needs_pipelines(self) -> bool:
        """It acts only on pipelines named (the destructive ones); the others default to what the change affects."""
        return self.declared.needs_pipelines


class Role(StrEnum):
    """Permission names as settings spell them; `everyone` is anyone who can comment."""

    EVERYONE = "everyone"
    READ = "read"
    TRIAGE = "triage"
    WRITE = "write"
    MAINTAIN = "maintain"
    ADMIN = "admin"

    @property
    def permission(self) -> Permission:
        return Permission.NONE if self is Role.EVERYONE else Permission[self.name]


class HeadUse(StrEnum):
    """How a run uses the pull request's head, as `head_code` judges it."""

    PREVIEW = "preview"
    DIFF = "diff"
    DEPLOY = "deploy"


@dataclass(frozen=True)
class Declared:
    role: Role  # the least permission, unless `commands.roles` sets another
    purpose: str  # the help's line
    head: HeadUse | None = None  # how it runs the pull request's head; None: it runs no code of the head
    changes_cluster: bool = False
    needs_pipelines: bool = False


DECLARED: dict[CommandName, Declared] = {
    CommandName.HELP: Declared(Role.EVERYONE, "this help"),
    CommandName.DIFF: Declared(
        Role.EVERYONE,
        "the dry-run diff of the named pipelines (all this pull request affects when none)",
        head=HeadUse.DIFF,
    ),
    CommandName.DEPLOY: Declared(
        Role.WRITE,
        "deploy the pull request's head (the pipelines it changes when none are named)",
        head=HeadUse.DEPLOY,
        changes_cluster=True,
    ),
    CommandName.RESET: Declared(
        Role.WRITE,
        "reset what is deployed (the base branch's definition): delete consumer groups and state",
        changes_cluster=True,
        needs_pipelines=True,
    ),
    CommandName.CLEAN: Declared(
        Role.MAINTAIN,
        "clean what is deployed: reset, then delete the pipeline's topics and schemas",
        changes_cluster=True,
        needs_pipelines=True,
    ),
    CommandName.DESTROY: Declared(
        Role.MAINTAIN,
        "remove what is deployed: the pipeline's apps and connectors",
        changes_cluster=True,
        needs_pipelines=True,
    ),
    CommandName.UNLOCK: Declared(
        Role.WRITE, "release the pipelines this pull request holds (the named ones only, when given)"
    ),
}
