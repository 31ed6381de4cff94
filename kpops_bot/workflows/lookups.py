"""What the workflows look up alike: a repository's effective settings and its GitOps target."""

from __future__ import annotations

from kpops_bot.events.model import Repository
from kpops_bot.forges.base import ForgeClient
from kpops_bot.gitops.publish import IsNewer, Target
from kpops_bot.repo_config import FILE_NAME, Effective, effective, parse_repo_config
from kpops_bot.services import Services
from kpops_bot.workspace import CachedRepository


def repository_settings(
    services: Services, client: ForgeClient, repository: Repository, ref: str, branch: str
) -> Effective:
    """The server's settings with the repository's `.kpops-bot.yaml` at `ref` applied, for `branch`.

    Raises `InvalidRepoConfigError` with a message for the thread.
    """
    text = client.read_file(repository, FILE_NAME, ref)
    return effective(services.settings, parse_repo_config(text), branch)


def gitops_target(services: Services, client: ForgeClient, repository: Repository, branch: str) -> Target:
    settings = services.settings.gitops
    return Target(
        url=settings.repository or repository.clone_url,
        branch=settings.branch or branch,
        git_env=client.git_env(repository),
        author_name=settings.author_name,
        author_email=settings.author_email,
        attempts=settings.push_attempts,
    )


def newer_than(repository: CachedRepository) -> IsNewer:
    """A folder's recorded source is newer than ours when ours is in its history."""
    return lambda recorded, ours: repository.is_ancestor(ours, recorded)
