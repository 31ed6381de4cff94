"""Publishing to the GitOps target: the commit message, then the commit, then the line that links it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.escape import commit_line
from kpops_bot.events.model import Repository
from kpops_bot.gitops.publish import COMMIT_TRAILER
from kpops_bot.gitops.target import Published
from kpops_bot.model.forge import ForgeClient
from kpops_bot.report import answers
from kpops_bot.settings import BotSettings
from kpops_bot.workflows.lookups import gitops_target
from kpops_bot.workflows.ports import DeploymentRepository
from kpops_bot.workflows.steps import StepResult


def commit_message(summary: str, body_lines: Sequence[str], source: str) -> str:
    """The message of a GitOps commit; its trailer names the source commit. Each line given stays one line (the
    values in it cannot break it), so nothing a repository names can add a paragraph or a trailer."""
    body = "\n".join(commit_line(line) for line in body_lines)
    return f"{commit_line(summary)}\n\n{body}\n\n{COMMIT_TRAILER}: {commit_line(source)}\n"


def publish(
    settings: BotSettings,
    client: ForgeClient,
    repository: Repository,
    deployment: DeploymentRepository,
    branch: str,
    results: Sequence[StepResult],
    message: str,
) -> tuple[str, Linked | None]:
    """Commit what the successful steps write to the branch's GitOps target: the answer's line linking the commit,
    and what was published with the commit's link (`""` and None when nothing is written)."""
    writes = [result.write for result in results if result.ok and result.write is not None]
    if not writes:
        return "", None
    target = gitops_target(settings, client, repository, branch)
    done = deployment.publish(target, writes, message)
    url = client.commit_url(repository, done.commit) if done.commit else None
    line = answers.published(done.commit, url, target.branch, done.kept_newer, done.removed_jobs)
    return line, Linked(done, url)


@dataclass(frozen=True)
class Linked:
    """A GitOps publish and the link to its commit (None when the target had all of it)."""

    published: Published
    url: str | None
