"""The drift checks' clock: each configured branch gets a drift job once its interval has passed.

Each replica keeps its own clock; a check queued while one waits is dropped (the job supersedes the waiting one),
so several replicas make no pile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kpops_bot.events.model import Forge
from kpops_bot.jobs import DriftCheck, NewJob
from kpops_bot.settings import DriftSchedule


class DriftClock:
    def __init__(self, schedules: Sequence[DriftSchedule], enqueue: Callable[[NewJob], int]) -> None:
        self._schedules = list(schedules)
        self._enqueue = enqueue
        self._last: dict[int, float] = {}

    def tick(self, now: float) -> list[int]:
        """Queue the checks that are due at `now` (all of them on the first tick); the jobs' ids."""
        queued: list[int] = []
        for index, schedule in enumerate(self._schedules):
            last = self._last.get(index)
            if last is not None and now - last < schedule.every_minutes * 60:
                continue
            forge, _, full_name = schedule.repository.partition(":")
            queued.append(self._enqueue(DriftCheck(Forge(forge), full_name, schedule.branch).job()))
            self._last[index] = now
        return queued
