"""A job that waits for the environment of a kpops release to be built says so in the head's commit status.

Building an environment (the first use of a release on this machine) takes from seconds to minutes; meanwhile the
head's `kpops-bot` status names the release it waits for. The preview owns that status: its waiting status is one
more pending step before its final status (and, like every pending status, never written again by a retry once an
earlier attempt finished the status). A `/kpops diff` borrows the status of a head that has one and gives it back
as it was when the diff is done, even when the diff fails, unless something else (a preview) wrote the status
meanwhile; a head without a status (never previewed) is left without one, since nothing would finish it. Both
forges keep every status of a commit, so a process killed during that wait is made good by the retry: it finds its
borrowed status on top (its words are its own) and gives back the one below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from packaging.version import Version

from kpops_bot.events.model import Repository
from kpops_bot.model.forge import CommitState, CommitStatus, ForgeClient
from kpops_bot.report.notices import is_preparing_kpops_for_diff, preparing_kpops, preparing_kpops_for_diff
from kpops_bot.versions.index import WaitListener
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
    history = client.status_history(repository, sha)
    left_over = bool(history) and _borrowed(history[0])  # an earlier attempt died while it waited
    before = next((status for status in history if not _borrowed(status)), None)
    borrowed: list[CommitStatus] = [history[0]] if left_over else []

    def heard(version: Version) -> None:
        if before is not None:
            description = preparing_kpops_for_diff(str(version))
            client.set_status(repository, sha, CommitState.PENDING, description)
            borrowed.append(CommitStatus(CommitState.PENDING, description, None))

    try:
        yield heard
    finally:
        if borrowed and before is not None and client.status(repository, sha) in borrowed:
            client.set_status(repository, sha, before.state, before.description, before.target_url)


def _borrowed(status: CommitStatus) -> bool:
    return status.state is CommitState.PENDING and is_preparing_kpops_for_diff(status.description)
