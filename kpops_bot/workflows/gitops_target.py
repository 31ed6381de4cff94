"""The GitOps target of a repository: the configured one, or the repository and branch itself."""

from __future__ import annotations

from kpops_bot.events.model import Repository
from kpops_bot.forges.base import ForgeClient
from kpops_bot.gitops.publish import IsNewer, Target
from kpops_bot.services import Services
from kpops_bot.workspace import CachedRepository


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
