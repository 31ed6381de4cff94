"""What the bot writes in its GitOps commits: the summary line and the body lines of an apply's and a command's
commit. Pure: plain data in, lines out; `workflows.publishing.commit_message` keeps each line one line and adds the
trailer that names the source commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.events.model import Forge
from kpops_bot.report.answers import pull_request_ref


@dataclass(frozen=True)
class Written:
    """One pipeline a commit writes: in which environment, by which operation."""

    pipeline: str
    environment: str | None
    operation: str


@dataclass(frozen=True)
class CommitText:
    summary: str
    lines: Sequence[str]


def applied(
    full_name: str, forge: Forge, number: int | None, branch: str, commit: str, written: Sequence[Written]
) -> CommitText:
    """An apply's commit: from which merge (`number`) or push to `branch`, and each pipeline it writes."""
    what = pull_request_ref(forge, number) if number is not None else f"push to {branch}"
    rows = [f"- {each.pipeline} ({each.environment or 'default'}): {each.operation}" for each in written]
    return CommitText(
        f"kpops-bot: apply {what} ({commit[:12]})",
        [f"Applied from {full_name} {what}, merge commit {commit}.", "", *rows],
    )


def commanded(
    command: str, pipelines: Sequence[str], forge: Forge, number: int, author: str, url: str | None, line: str
) -> CommitText:
    """A command's commit: what it did to which pipelines, who asked for it where, and the command as written."""
    ref = pull_request_ref(forge, number)
    return CommitText(
        f"kpops-bot: {command} {', '.join(pipelines)} for {ref}",
        [f"Requested by @{author} in {url or ref}", f"Command: {line}"],
    )
