"""A workflow that meets a fault of its surroundings: it answers nothing, says in the commit's pending status that
it waits and why, and leaves as `TransientFault`, which the worker retries later without spending an attempt.

The status is written only while the commit's status is not final (an earlier attempt's final status stands), and
not when the forge itself is the fault (the write would wait out the client's retries to fail the same way).

A job run again after such a fault may carry the attempt count of its first run (the worker does not count the
fault as an attempt), so `is_retry` also reads the outcome the failed run left: a retry never takes a finished
status back to pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kpops_bot.events.model import Repository
from kpops_bot.fault_causes import transient_faults
from kpops_bot.faults import FaultKind, TransientFault
from kpops_bot.jobs import Job
from kpops_bot.model.forge import ForgeClient, ForgeError
from kpops_bot.report.faults import waiting_for_retry
from kpops_bot.workflows import once

logger = logging.getLogger(__name__)


def is_retry(job: Job[Any]) -> bool:
    """An earlier run of this job may have written to the forge: it was claimed before, or it failed (its outcome
    says why) and was queued again."""
    return job.attempts > 1 or job.outcome is not None


@contextmanager
def retried_on_fault(
    client: ForgeClient, repository: Repository, sha: str, described: Callable[[str], str] = str
) -> Iterator[None]:
    """Around a job's work on `sha`: a transient failure leaves as `TransientFault` after the waiting status."""
    try:
        with transient_faults():
            yield
    except TransientFault as fault:
        logger.warning("work on %s at %s waits to retry: %s", repository.full_name, sha[:12], fault)
        if fault.kind is not FaultKind.FORGE:
            _say_waiting(client, repository, sha, described(waiting_for_retry(fault)))
        raise


def _say_waiting(client: ForgeClient, repository: Repository, sha: str, description: str) -> None:
    try:
        once.pending(client, repository, sha, description, retry=True)
    except (ForgeError, TransientFault) as error:  # the job is retried all the same; the next run writes its status
        logger.warning("the waiting status of %s could not be written: %s", sha[:12], error)
