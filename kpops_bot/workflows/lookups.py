"""What the workflows look up alike: a repository's effective settings, its GitOps target, a pull request's facts."""

from __future__ import annotations

from kpops_bot.events.model import PullRequestEvent, Repository
from kpops_bot.fault_causes import raise_if_transient
from kpops_bot.gitops.target import Target
from kpops_bot.model.forge import ForgeClient, ForgeError
from kpops_bot.model.policy import PullRequestFacts
from kpops_bot.repo_config import FILE_NAME, Effective, effective, parse_repo_config
from kpops_bot.settings import BotSettings


def repository_settings(
    settings: BotSettings, client: ForgeClient, repository: Repository, ref: str, branch: str
) -> Effective:
    """The server's settings with the repository's `.kpops-bot.yaml` at `ref` applied, for `branch`.

    Raises `InvalidRepoConfigError` with a message for the thread.
    """
    text = client.read_file(repository, FILE_NAME, ref)
    return effective(settings, parse_repo_config(text), branch)


def gitops_target(settings: BotSettings, client: ForgeClient, repository: Repository, branch: str) -> Target:
    gitops = settings.gitops
    return Target(
        url=gitops.repository or repository.clone_url,
        branch=gitops.branch or branch,
        git_env=client.git_env(repository),
        author_name=gitops.author_name,
        author_email=gitops.author_email,
        attempts=gitops.push_attempts,
        jobs_kept_for=gitops.jobs_kept_for(),
    )


def pull_request_facts(client: ForgeClient, event: PullRequestEvent) -> PullRequestFacts:
    """What the policies know of the pull request: the delivery's author and labels; where it lacks one (GitLab's
    hook names the author by id only, GitLab 8's has no labels), the forge's pull request."""
    author, labels = event.author, event.labels
    if author is None or labels is None:
        try:
            pull = client.pull_request(event.repository, event.number)
        except ForgeError as error:
            raise_if_transient(error)  # gone or forbidden: judged on what the delivery said
        else:
            author, labels = author or pull.author, pull.labels if labels is None else labels
    return PullRequestFacts(number=event.number, labels=labels or (), author=author, target_branch=event.base_ref)
