"""Retries of forge calls: transient failures (5xx, 429, secondary rate limits, timeouts) wait and try again.

tenacity does the retrying; this module only says what is transient and how long the forge asked us to wait.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    first_wait: float = 1.0
    max_wait: float = 60.0


@dataclass(frozen=True)
class Transience:
    """How a forge's exceptions read: is it worth another try, and did the forge say when."""

    is_transient: Callable[[BaseException], bool]
    retry_after: Callable[[BaseException], float | None]


def call_with_retries(policy: RetryPolicy, transience: Transience, what: str, call: Callable[[], T]) -> T:
    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = transience.retry_after(error) if error is not None else None
        if asked is not None:
            return min(asked, policy.max_wait)
        backoff = policy.first_wait * 2 ** (state.attempt_number - 1)
        return float(min(backoff, policy.max_wait) * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not crypto)

    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning("%s failed (%s), try %d of %d", what, type(error).__name__, state.attempt_number, policy.attempts)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(transience.is_transient),
        before_sleep=log,
        reraise=True,
    )
    return retrying(call)
