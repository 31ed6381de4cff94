"""The sticky comment: the bot's report in one place per pull request, as many parts as it needs, never twice.

Parts are the bot's own comments that start with the report marker, in the order they were created. Planning is
pure; `sync` carries a plan out, so a run interrupted halfway is completed by the next one without a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpops_bot.events.model import Repository
from kpops_bot.model.forge import Comment, ForgeClient
from kpops_bot.report.identity import is_part


@dataclass(frozen=True)
class Edit:
    comment: Comment
    body: str


@dataclass(frozen=True)
class Create:
    body: str


@dataclass(frozen=True)
class Delete:
    comment: Comment


Action = Edit | Create | Delete


def bot_parts(comments: list[Comment], bot_name: str) -> list[Comment]:
    """The report's parts: the bot's comments with the marker (somebody quoting the marker is not the bot)."""
    parts = [c for c in comments if c.author == bot_name and is_part(c.body)]
    return sorted(parts, key=lambda comment: comment.id)


def plan(existing: list[Comment], bodies: list[str]) -> list[Action]:
    """Edit the parts there are (unless unchanged), create what is missing, delete what is left over."""
    actions: list[Action] = []
    for comment, body in zip(existing, bodies, strict=False):
        if comment.body != body:
            actions.append(Edit(comment, body))
    actions += [Create(body) for body in bodies[len(existing) :]]
    actions += [Delete(comment) for comment in existing[len(bodies) :]]
    return actions


def sync(client: ForgeClient, repository: Repository, number: int, bodies: list[str]) -> list[Comment]:
    """Make the pull request show exactly `bodies` as the bot's report; returns the parts, first part first."""
    existing = bot_parts(client.comments(repository, number), client.bot_name())
    parts = list(existing[: len(bodies)])
    for action in plan(existing, bodies):
        if isinstance(action, Edit):
            client.edit_comment(repository, number, action.comment.id, action.body)
        elif isinstance(action, Create):
            parts.append(client.create_comment(repository, number, action.body))
        else:
            client.delete_comment(repository, number, action.comment.id)
    return parts


def existing_parts(client: ForgeClient, repository: Repository, number: int) -> list[Comment]:
    return bot_parts(client.comments(repository, number), client.bot_name())
