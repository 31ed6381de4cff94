"""A pull request that is done (merged, closed): its locks and place in line are released, its report outdated."""

from __future__ import annotations

from kpops_bot.events.model import Repository
from kpops_bot.jobs import repository_key
from kpops_bot.model.forge import ForgeClient
from kpops_bot.report import notices
from kpops_bot.workflows import sticky
from kpops_bot.workflows.ports import LockBook


def release_and_mark_outdated(
    client: ForgeClient, locks: LockBook, repository: Repository, number: int, why: str
) -> int:
    """Release everything the pull request holds or waits for; banner `why` on every report part. How many parts."""
    locks.release(repository_key(repository), number, forget_waits=True)
    parts = sticky.existing_parts(client, repository, number)
    sticky.sync(client, repository, number, [notices.mark_outdated(part.body, why) for part in parts])
    return len(parts)
