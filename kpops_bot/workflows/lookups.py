"""What the workflows look up alike: a repository's effective settings and its GitOps target."""

from __future__ import annotations

from kpops_bot.events.model import Repository
from kpops_bot.gitops.target import Target
from kpops_bot.model.forge import ForgeClient
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
