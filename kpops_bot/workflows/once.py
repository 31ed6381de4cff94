"""Forge writes that happen once: a retried job finds what its earlier attempt wrote and repeats none of it.

The forge is the record: an answer carries its job's identity in a hidden marker line (`report.identity`), a
reaction is looked up before it is added, and a status is compared with the commit's current one by the client.
A job killed after the forge stored a write but before it heard back completes what is missing on its next attempt.
"""

from __future__ import annotations

from kpops_bot.events.model import Repository
from kpops_bot.model.forge import Comment, CommitState, ForgeClient
from kpops_bot.report import answers
from kpops_bot.report.answers import Answer
from kpops_bot.report.identity import answer_of


def find_answer(client: ForgeClient, repository: Repository, number: int, identity: str) -> tuple[Comment, str] | None:
    """The bot's answer with this identity and the outcome its marker records; None before it is posted."""
    bot = client.bot_name()
    for comment in client.comments(repository, number):
        marked = answer_of(comment.body) if comment.author == bot else None
        if marked is not None and marked[0] == identity:
            return comment, marked[1]
    return None


def answer(
    client: ForgeClient, repository: Repository, number: int, identity: str, reply: Answer, outcome: str = ""
) -> Comment:
    """Post the answer unless an earlier attempt did; either way the answer there is."""
    found = find_answer(client, repository, number, identity)
    if found is not None:
        return found[0]
    return post_answer(client, repository, number, identity, reply, outcome)


def post_answer(
    client: ForgeClient, repository: Repository, number: int, identity: str, reply: Answer, outcome: str = ""
) -> Comment:
    """Post an answer: under its marker (`identity`, and the `outcome` a retry needs), within the forge's limit. Every
    answer is posted here; a caller that may be a retry looks for the earlier one first (`answer`, `find_answer`)."""
    return client.create_comment(repository, number, answers.marked(reply, identity, client.comment_limit, outcome))


def react(client: ForgeClient, repository: Repository, number: int, comment_id: int, reaction: str) -> None:
    """Add the bot's reaction unless it is there (GitLab refuses a second one; GitHub would keep one anyway)."""
    bot = client.bot_name()
    if any(r.user == bot and r.name == reaction for r in client.reactions(repository, number, comment_id)):
        return
    client.react(repository, number, comment_id, reaction)


def pending(client: ForgeClient, repository: Repository, sha: str, description: str, *, retry: bool) -> None:
    """Set the pending status, unless this is a retry and an earlier attempt finished the status already (it is
    written again at the end when it changes, never taken back to pending in between)."""
    if retry:
        current = client.status(repository, sha)
        if current is not None and current.state is not CommitState.PENDING:
            return
    client.set_status(repository, sha, CommitState.PENDING, description)
