"""Retries of forge calls: transient failures (5xx, 429, secondary rate limits, timeouts) wait and try again.

tenacity does the retrying; this module only says what is transient, how long the forge asked us to wait, and how a
write that creates something is retried without being made twice.

Reads and edits are retried as they are: sending them again changes nothing. A create is not: a forge can store a
comment and then answer too late (the client's timeout) or with a 5xx from a proxy in front of it, and sending the
create again posts a second comment. So after a transient failure of a create (`write_once`) the client waits with
backoff and first looks for what it wrote (`find_written`: the bot's comment with that body, its reaction, the
status on that commit, ...); it returns what it finds and writes again only when the look says it is not there. The
look can fail in the same way while the forge has its bad minute: then the client keeps waiting and looking, never
writes blind, since a write whose fate is unknown may only be repeated once the forge has said it is absent. Such a
write is patient (`RetryPolicy.patience`): it looks through a minute of 5xx before it gives up, and a job that
gives up is retried later by the worker and looks again before it writes (`workflows.once`, the sticky comment).
With the defaults a write holds its worker for about four minutes at most before it gives up: 8 tries of up to 15 s
(the forge's `timeout`) and about 125 s of backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import requests
import tenacity

from kpops_bot import metrics
from kpops_bot.forges.failures import without_credentials

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    first_wait: float = 1.0
    max_wait: float = 60.0
    # Seconds of waiting (the sum of the backoffs) a create whose fate is unknown keeps looking for what it wrote
    # before it gives up, however many attempts that takes: a forge that stored it, answered after the timeout and
    # then failed for a minute is outlasted.
    patience: float = 90.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)  # tests wait without waiting


@dataclass(frozen=True)
class Transience:
    """How a forge's exceptions read: is it worth another try, and did the forge say when."""

    forge: str  # the metrics' label
    is_transient: Callable[[BaseException], bool]
    retry_after: Callable[[BaseException], float | None]


def call_with_retries(policy: RetryPolicy, transience: Transience, what: str, call: Callable[[], T]) -> T:
    """`call()`, tried again after transient failures: for reads and for writes that are the same when repeated."""
    return _run(_retrying(policy, transience, what, tenacity.stop_after_attempt(policy.attempts)), transience, call)


def write_once(
    policy: RetryPolicy,
    transience: Transience,
    what: str,
    write: Callable[[], T],
    find_written: Callable[[], T | None],
) -> T:
    """`write()`, made once: after a transient failure, `find_written()` is asked (and asked again while it fails
    transiently) before anything is written again; what it finds is the result."""
    unsure = False  # a write failed transiently and nobody has looked since: it may be stored

    def attempt() -> T:
        nonlocal unsure
        if unsure:
            found = find_written()
            if found is not None:
                logger.warning("%s: the forge had stored the write that failed; not written again", what)
                return found
            unsure = False
        try:
            return write()
        except BaseException as error:
            unsure = transience.is_transient(error)
            raise

    def patient(state: tenacity.RetryCallState) -> bool:
        return state.attempt_number >= policy.attempts and state.idle_for >= policy.patience

    return _run(_retrying(policy, transience, what, patient), transience, attempt)


def _retrying(
    policy: RetryPolicy, transience: Transience, what: str, stop: Callable[[tenacity.RetryCallState], bool]
) -> tenacity.Retrying:
    backoff = tenacity.wait_exponential_jitter(multiplier=policy.first_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = transience.retry_after(error) if error is not None else None
        return min(asked, policy.max_wait) if asked is not None else backoff(state)

    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        metrics.forge_retries.labels(transience.forge).inc()
        logger.warning("%s failed (%s), try %d", what, _told(error), state.attempt_number)

    return tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(transience.is_transient),
        before_sleep=log,
        sleep=policy.sleep,
        reraise=True,
    )


def _told(error: BaseException | None) -> str:
    """The failure's kind, with the URL that did not answer or the status the forge answered."""
    name = type(error).__name__
    if isinstance(error, requests.RequestException):
        url = error.request.url if error.request is not None else None
        return f"{name}, no answer from {without_credentials(url)}" if isinstance(url, str) else name
    status = getattr(error, "status", None) or getattr(error, "response_code", None)  # PyGithub, python-gitlab
    return f"{name}, HTTP {status}" if isinstance(status, int) else name


def _run(retrying: tenacity.Retrying, transience: Transience, call: Callable[[], T]) -> T:
    try:
        result = retrying(call)
    except BaseException:
        metrics.forge_calls.labels(transience.forge, "error").inc()
        raise
    metrics.forge_calls.labels(transience.forge, "ok").inc()
    return result
