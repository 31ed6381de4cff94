"""The last deliveries this replica answered and what intake made of them, for the status page.

The store keeps a delivery once (a redelivery changes nothing there) and keeps no ignored or refused delivery at
all; the outcome of each answer (queued, duplicate, ignored, refused) lives here, in memory, a bounded number.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from kpops_bot.metrics import DeliveryOutcome


@dataclass(frozen=True)
class Answered:
    at: float
    forge: str
    event: str
    delivery_id: str
    outcome: DeliveryOutcome
    job_id: int | None
    reason: str  # why ignored or refused; empty otherwise


class IntakeLog:
    def __init__(self, size: int = 200) -> None:
        self._entries: deque[Answered] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, answered: Answered) -> None:
        with self._lock:
            self._entries.append(answered)

    def newest_first(self) -> list[Answered]:
        with self._lock:
            return list(reversed(self._entries))
