"""Who may run which command, and what the pull request must be before anything executes. Pure.

Whether the pull request's head may run (forks, approval of the head for `deploy`, dry runs included) is
`head_code`'s decision; this module decides permissions and the state of the pull request.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from kpops_bot.commands.approval import not_approved
from kpops_bot.commands.catalog import CommandName, Role
from kpops_bot.model.forge import Permission


class CommandPolicy(BaseModel):
    roles: dict[CommandName, Role] = Field(
        default_factory=dict, description="Command → least permission; unset commands keep the defaults."
    )
    require_approval: list[CommandName] = Field(
        default_factory=list,
        description="Commands that run only on a pull request approved on its current commit (dry runs of deploy too).",
    )
    approval_permission: Role = Field(
        default=Role.WRITE, description="Least permission of a reviewer whose approval counts."
    )
    require_mergeable: list[CommandName] = Field(
        default_factory=list, description="Commands that run only when the pull request could be merged."
    )
    allow_fork_deploy: bool = Field(
        default=False, description="Let `deploy` run a fork's head (its code runs with deployment credentials)."
    )

    def role(self, command: CommandName) -> Role:
        return self.roles.get(command, command.declared.role)


@dataclass(frozen=True)
class PullRequestState:
    """What the decision needs to know of the pull request."""

    open: bool
    approved: bool  # as `commands.approval` decides
    mergeable: bool | None  # None: the forge has not computed it yet


def refusal(
    command: CommandName,
    dry_run: bool,
    user: str,
    permission: Permission,
    pull: PullRequestState,
    policy: CommandPolicy,
) -> str | None:
    """Why `user` may not run `command` here, or None when they may."""
    role = policy.role(command)
    if permission < role.permission:
        have = permission.name.lower() if permission > Permission.NONE else "no"
        return f"@{user}, `{command}` needs {role.value} permission on this repository; you have {have} permission."
    if not command.changes_cluster or dry_run:
        return None
    if not pull.open:
        return f"`{command}` runs only on an open pull request."
    if command in policy.require_approval and command is not CommandName.DEPLOY and not pull.approved:
        return (
            f"`{command}` runs only on an approved pull request; {not_approved(policy.approval_permission.permission)}"
        )
    if command in policy.require_mergeable and pull.mergeable is not True:
        state = "has conflicts or failing checks" if pull.mergeable is False else "is still being checked"
        return f"`{command}` runs only on a mergeable pull request; this one {state}."
    return None
