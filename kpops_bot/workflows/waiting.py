"""A job that waits for the environment of a kpops release to be built says so in the head's commit status.

Building an environment (the first use of a release on this machine) takes from seconds to minutes; meanwhile the
head's `kpops-bot` status names the release it waits for. The preview owns that status: its waiting status is one
more pending step before its final status (and, like every pending status, never written again by a retry once an
earlier attempt finished the status). A `/kpops diff` borrows the status of a head that has one and gives it back
as it was when the diff is done, even when the diff fails; a head without a status (never previewed) is left
without one, since nothing would finish it. A process killed during that wait leaves the pending status behind
(the retry cannot know what it replaced) until the head's next preview: pending holds a merge back, it never
lets one through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from packaging.version import Version

from kpops_bot.events.model import Repository
from kpops_bot.forges.base import CommitState, ForgeClient
from kpops_bot.report.notices import preparing_kpops
from kpops_bot.versions.environments import WaitListener
from kpops_bot.workflows import once


def preview_waiting(
    client: ForgeClient, repository: Repository, sha: str, described: Callable[[str], str], *, retry: bool
) -> WaitListener:
    """The preview's listener: a pending status naming the release (`described` adds what every status says)."""

    def heard(version: Version) -> None:
        once.pending(client, repository, sha, described(preparing_kpops(str(version))), retry=retry)

    return heard


@contextmanager
def borrowed_status(client: ForgeClient, repository: Repository, sha: str) -> Iterator[WaitListener]:
    """A listener that sets the head's status to pending while the job waits; the status it had comes back after."""
    before = client.status(repository, sha)
    announced = False

    def heard(version: Version) -> None:
        nonlocal announced
        if before is not None:
            client.set_status(repository, sha, CommitState.PENDING, preparing_kpops(str(version)))
            announced = True

    try:
        yield heard
    finally:
        if announced and before is not None:
            client.set_status(repository, sha, before.state, before.description, before.target_url)
