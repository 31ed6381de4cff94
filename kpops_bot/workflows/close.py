"""A pull request closed without merge, or merged where merges are not applied: its report is marked outdated,
its locks and place in line released. A fault of the surroundings (the forge, the database) is retried
(`kpops_bot.fault_causes`)."""

from __future__ import annotations

from kpops_bot.events.model import PullRequestAction, PullRequestEvent
from kpops_bot.fault_causes import transient_faults
from kpops_bot.jobs import Job
from kpops_bot.report import notices
from kpops_bot.workflows.ports import ForgeFor, LockBook
from kpops_bot.workflows.release import release_and_mark_outdated


class CloseWorkflow:
    def __init__(self, forges: ForgeFor, locks: LockBook) -> None:
        self._forges = forges
        self._locks = locks

    def run(self, job: Job[PullRequestEvent]) -> str:
        event = job.payload
        if event.action is PullRequestAction.MERGED:
            why = notices.merged_not_applied(event.merge_commit_sha or event.head_sha)
        else:
            why = notices.closed_unmerged(event.head_sha)
        client = self._forges(event.repository.forge)
        with transient_faults():
            marked = release_and_mark_outdated(client, self._locks, event.repository, event.number, why)
        return f"marked {marked} comment(s) outdated"

    def give_up(self, job: Job[PullRequestEvent], error: BaseException) -> None:
        """Nothing waits on a closed pull request; the failure is in the log."""
