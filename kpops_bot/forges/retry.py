"""Retries of forge calls: transient failures (5xx, 429, secondary rate limits, timeouts) wait and try again.

tenacity does the retrying; this module only says what is transient and how long the forge asked us to wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from kpops_bot import metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    first_wait: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)  # tests wait without waiting


@dataclass(frozen=True)
class Transience:
    """How a forge's exceptions read: is it worth another try, and did the forge say when."""

    forge: str  # the metrics' label
    is_transient: Callable[[BaseException], bool]
    retry_after: Callable[[BaseException], float | None]


def call_with_retries(policy: RetryPolicy, transience: Transience, what: str, call: Callable[[], T]) -> T:
    backoff = tenacity.wait_exponential_jitter(multiplier=policy.first_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = transience.retry_after(error) if error is not None else None
        return min(asked, policy.max_wait) if asked is not None else backoff(state)

    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        name = type(error).__name__
        metrics.forge_retries.labels(transience.forge).inc()
        logger.warning("%s failed (%s), try %d of %d", what, name, state.attempt_number, policy.attempts)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(transience.is_transient),
        before_sleep=log,
        sleep=policy.sleep,
        reraise=True,
    )
    try:
        result = retrying(call)
    except BaseException:
        metrics.forge_calls.labels(transience.forge, "error").inc()
        raise
    metrics.forge_calls.labels(transience.forge, "ok").inc()
    return result
