"""What authorization decided for each line of a comment: a command accepted (and how it may run the pull request's
head), or a refusal to tell. Pure: the forge's answers (the author's permission, the approval) come in as facts.

Each decision is a value the runners are handed, so no runner depends on authorization having run first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.commands.authorize import CommandPolicy, PullRequestState, refusal
from kpops_bot.commands.parse import Command, Rejected
from kpops_bot.head_code import HeadFacts, HeadRules, KeepHead, RunHead, decide
from kpops_bot.model.forge import Permission
from kpops_bot.report import answers
from kpops_bot.settings import OperationMode


@dataclass(frozen=True)
class Accepted:
    """A command that runs, and how it runs the pull request's head (None: it runs none, `catalog` declares so)."""

    command: Command
    head: RunHead | None = None


@dataclass(frozen=True)
class Refused:
    """A line that does not run: its section of the answer. A refusal `every_run` is told again when the comment runs
    after waiting for a lock (its head moved meanwhile); the others were told on its first run."""

    section: str
    every_run: bool = False


Decision = Accepted | Refused


@dataclass(frozen=True)
class Facts:
    """What the decisions need to know of the comment, its author and its pull request."""

    author: str
    permission: Permission  # the author's; NONE when no command of the comment needs more
    state: PullRequestState
    from_fork: bool
    head: str  # the head the comment is bound to
    moved_to: str | None  # the live head where it moved since the comment
    mode: OperationMode


def authorize(
    parsed: Sequence[Command | Rejected], facts: Facts, policy: CommandPolicy, rules: HeadRules
) -> list[Decision]:
    """One decision per line, in the comment's order."""
    return [_decide(item, facts, policy, rules) for item in parsed]


def _decide(item: Command | Rejected, facts: Facts, policy: CommandPolicy, rules: HeadRules) -> Decision:
    if isinstance(item, Rejected):
        return Refused(answers.rejected(item.line, item.reason))
    why = refusal(item.name, item.dry_run, facts.author, facts.permission, facts.state, policy)
    if why is not None:
        return Refused(answers.refused(item.line, why))
    use = item.name.declared.head
    if use is None:
        return Accepted(item)
    if facts.moved_to is not None:
        moved = answers.head_moved(item.name, facts.head, facts.moved_to)
        return Refused(answers.refused(item.line, moved), every_run=True)
    head = decide(use, facts.mode, HeadFacts(facts.from_fork, facts.state.approved), rules, dry_run=item.dry_run)
    if isinstance(head, KeepHead):
        return Refused(answers.refused(item.line, head.reason))
    return Accepted(item, head)


def needs_permission(parsed: Sequence[Command | Rejected], policy: CommandPolicy) -> bool:
    """Whether any command of the comment needs more than everyone's permission (then it is looked up)."""
    return any(isinstance(item, Command) and policy.role(item.name).permission > Permission.NONE for item in parsed)
