"""Where the webhook receiver hands what it decided: the delivery to store, and the answer it gave.

In one process the receiver stores through the store's group commit and records its answers itself
(`LocalIntake`). With intake processes (`intake_processes`), each of them hands both to the bot's process over a
local channel (`server.intake_channel`), so the deliveries of every process are stored by one writer in shared
batches, and metrics, the status page and the worker's wake-up see every answer in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from kpops_bot import metrics
from kpops_bot.jobs import NewJob
from kpops_bot.metrics import DeliveryOutcome
from kpops_bot.server.intake_log import Answered, IntakeLog
from kpops_bot.store import Accepted, Store

logger = logging.getLogger(__name__)


class IntakeUnavailableError(Exception):
    """The delivery could not be stored now; the sender should deliver it again later."""


class Intake(Protocol):
    async def accept(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        """Store the delivery and queue its job (see `Store.accept`); raises `IntakeUnavailableError`."""
        ...

    def answered(self, answered: Answered) -> None:
        """The answer the sender got, for metrics, the status page and the worker."""
        ...


class LocalIntake:
    def __init__(self, store: Store, intake_log: IntakeLog, on_queued: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._intake_log = intake_log
        self._on_queued = on_queued

    async def accept(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        try:
            return await self._store.accept_async(forge, delivery_id, event, job)
        except Exception as error:  # any failure of the store, whichever layer raised it: the sender tries again
            first_line = next(iter(str(error).strip().splitlines()), "")
            logger.warning(
                "storing delivery %s failed, answered 503: %s: %s", delivery_id, type(error).__name__, first_line
            )
            raise IntakeUnavailableError from error

    def answered(self, answered: Answered) -> None:
        if answered.outcome is DeliveryOutcome.QUEUED:
            self._on_queued()
        metrics.deliveries.labels(answered.forge, metrics.event_label(answered.event), answered.outcome.value).inc()
        self._intake_log.add(answered)
