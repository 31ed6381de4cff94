"""Whether a pull request's head may run, and with which variables: the one decision every workflow asks. Pure.

Rendering a head runs its code (custom components are Python kpops imports), so every use of a head is judged
here, by what the run could reach rather than by which command asked:

- a **render** shows what the head would produce and changes nothing: the preview, `/kpops diff`, and
  `/kpops deploy --dry-run` in manifest and argo mode. A fork's head renders only with `allow_fork_previews`,
  and then only with the variables `public_variables` names.
- a **deployment run** runs the head with the deployment's variables and credentials: `/kpops deploy` in every
  mode (manifest and argo render it with the configured variables to commit the result) and `/kpops deploy
  --dry-run` in managed mode (kpops runs the head against the cluster). A fork's head needs `allow_fork_deploy`;
  when `deploy` is in `commands.require_approval`, the head must be approved (`commands.approval`). A dry run
  needs what the real run needs.

Reset, clean and destroy act on the base branch and applies on the merged commit: no head code runs for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kpops_bot.commands.approval import not_approved
from kpops_bot.commands.catalog import CommandName, HeadUse
from kpops_bot.model.forge import Permission
from kpops_bot.settings import BotSettings, OperationMode


class Variables(StrEnum):
    TRUSTED = "trusted"  # the engine's variables and, in managed mode, the deployment credentials
    UNTRUSTED = "untrusted"  # only those `public_variables` names


@dataclass(frozen=True)
class HeadFacts:
    from_fork: bool
    approved: bool  # as `commands.approval` decides: counted reviewers, current head


@dataclass(frozen=True)
class HeadRules:
    allow_fork_previews: bool
    allow_fork_deploy: bool
    deploy_needs_approval: bool
    approval_permission: Permission = Permission.WRITE

    @classmethod
    def of(cls, settings: BotSettings) -> HeadRules:
        return cls(
            allow_fork_previews=settings.allow_fork_previews,
            allow_fork_deploy=settings.commands.allow_fork_deploy,
            deploy_needs_approval=CommandName.DEPLOY in settings.commands.require_approval,
            approval_permission=settings.commands.approval_permission.permission,
        )


@dataclass(frozen=True)
class RunHead:
    variables: Variables

    @property
    def trusted(self) -> bool:
        return self.variables is Variables.TRUSTED


@dataclass(frozen=True)
class KeepHead:
    """The head does not run; `reason` is shown to whoever asked."""

    reason: str


def decide(
    use: HeadUse, mode: OperationMode, facts: HeadFacts, rules: HeadRules, *, dry_run: bool = False
) -> RunHead | KeepHead:
    if _deploys(use, mode, dry_run=dry_run):
        return _deployment_run(facts, rules, "deploy --dry-run" if dry_run else "deploy")
    if not facts.from_fork:
        return RunHead(Variables.TRUSTED)
    if not rules.allow_fork_previews:
        return KeepHead("pull requests from forks are not rendered on this bot (`allow_fork_previews`).")
    return RunHead(Variables.UNTRUSTED)


def _deploys(use: HeadUse, mode: OperationMode, *, dry_run: bool) -> bool:
    return use is HeadUse.DEPLOY and (not dry_run or mode is OperationMode.MANAGED)


def _deployment_run(facts: HeadFacts, rules: HeadRules, what: str) -> RunHead | KeepHead:
    if facts.from_fork and not rules.allow_fork_deploy:
        return KeepHead(
            f"`{what}` does not run a fork's head: its code would run with the deployment's variables and "
            "credentials (`commands.allow_fork_deploy`)."
        )
    if rules.deploy_needs_approval and not facts.approved:
        return KeepHead(f"`{what}` runs only an approved head; {not_approved(rules.approval_permission)}")
    return RunHead(Variables.TRUSTED)
