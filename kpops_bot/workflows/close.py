"""A pull request closed without merge: its report is marked outdated, its locks and place in line released."""

from __future__ import annotations

from kpops_bot.events.codec import load_event
from kpops_bot.events.model import PullRequestEvent
from kpops_bot.report import notices
from kpops_bot.server.routing import repository_key
from kpops_bot.services import Services
from kpops_bot.store import Job
from kpops_bot.workflows import sticky


class Close:
    def __init__(self, services: Services) -> None:
        self._services = services

    def run(self, job: Job) -> str:
        event = load_event(job.payload)
        assert isinstance(event, PullRequestEvent)
        client = self._services.forges.get(event.repository.forge)
        key = repository_key(event.repository)
        self._services.wake(self._services.locks.release(key, event.number, forget_waits=True).woken)
        parts = sticky.existing_parts(client, event.repository, event.number)
        why = f"This pull request was closed without merging at `{event.head_sha[:12]}`; nothing here was applied."
        bodies = [notices.mark_outdated(part.body, why) for part in parts]
        sticky.sync(client, event.repository, event.number, bodies)
        return f"marked {len(parts)} comment(s) outdated"

    def give_up(self, job: Job, error: BaseException) -> None:
        """Nothing waits on a closed pull request; the failure is in the log."""
