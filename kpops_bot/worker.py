"""The worker: claims jobs from the store, keeps their leases alive while they run, retries what failed.

Threads, not processes: a job spends its time waiting on git, the render pool and the forge. Each thread claims
one job at a time, so `concurrency` is the number of pull requests worked on at once by this replica.

The replica beats in the store every `heartbeat_seconds`; the jobs of a replica silent for `dead_after` seconds are
claimed again by the others, and a replica that starts takes back at once what its previous process was running
(same `replica_id`). A job that was abandoned or failed `max_attempts` times is given up: its handler tells the
people waiting (an error status), so nothing stays pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from kpops_bot import metrics
from kpops_bot.logs import fields_of, job_context
from kpops_bot.store import Job, Store

logger = logging.getLogger(__name__)


class JobHandler(Protocol):
    def run(self, job: Job) -> str:
        """Do the job; returns the outcome in a few words. Raising makes it retried later."""
        ...

    def give_up(self, job: Job, error: BaseException) -> None:
        """The job failed its last attempt: tell the people waiting for it."""
        ...


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 2
    lease_seconds: float = 120.0
    max_attempts: int = 5
    retry_delay: float = 10.0
    poll_interval: float = 0.5
    replica_id: str = "replica"
    heartbeat_seconds: float = 2.0
    dead_after: float = 10.0


class Worker:
    def __init__(self, store: Store, handlers: Mapping[str, JobHandler], options: WorkerOptions) -> None:
        self._store = store
        self._handlers = dict(handlers)
        self._options = options
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._name = options.replica_id

    def start(self) -> None:
        if not self._options.concurrency:
            return  # this replica only receives
        self._store.beat(self._name)
        taken = self._store.take_back(self._name)
        if taken:
            logger.warning("took back %d job(s) this replica was running when it stopped", taken)
        heart = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        heart.start()
        for index in range(self._options.concurrency):
            thread = threading.Thread(target=self._loop, args=(f"{self._name}/{index}",), name=f"worker-{index}")
            thread.start()
            self._threads.append(thread)

    def poll_now(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the jobs running now, claim no more."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
        if self._threads:
            self._store.leave(self._name)
        self._threads.clear()

    def _beat(self) -> None:
        while not self._stopping.wait(self._options.heartbeat_seconds):
            try:
                self._store.beat(self._name)
            except Exception:
                logger.exception("the heartbeat failed")

    def _loop(self, owner: str) -> None:
        options = self._options
        while not self._stopping.is_set():
            try:
                job = self._store.claim(owner, options.lease_seconds, self._name, options.dead_after)
            except Exception:
                logger.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(options.poll_interval)
                self._wake.clear()
                continue
            self._wake.set()  # there may be more: let an idle sibling look too
            self._work(owner, job)

    def _work(self, owner: str, job: Job) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            self._store.finish(job.id, owner, f"no handler for {job.kind!r}", failed=True)
            return
        if job.attempts > self._options.max_attempts:  # its workers kept stopping while running it
            self._give_up(owner, job, handler, RuntimeError(job.outcome or "abandoned"))
            return
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_lease, args=(job, owner, done), daemon=True)
        keeper.start()
        started = time.perf_counter()
        result = metrics.JobOutcome.DONE
        try:
            with job_context(fields_of(job.id, job.kind, job.key)):
                result = self._run(owner, job, handler)
        finally:
            done.set()
            keeper.join()
            metrics.job_duration.labels(job.kind, result).observe(time.perf_counter() - started)

    def _run(self, owner: str, job: Job, handler: JobHandler) -> metrics.JobOutcome:
        try:
            outcome = handler.run(job)
        except Exception as error:
            return self._failed(owner, job, handler, error)
        self._store.finish(job.id, owner, outcome)
        logger.info("job %d (%s %s): %s", job.id, job.kind, job.key, outcome)
        return metrics.JobOutcome.DONE

    def _failed(self, owner: str, job: Job, handler: JobHandler, error: Exception) -> metrics.JobOutcome:
        what = f"{type(error).__name__}: {error}"
        if job.attempts >= self._options.max_attempts:
            self._give_up(owner, job, handler, error)
            return metrics.JobOutcome.FAILED
        delay = self._options.retry_delay * 2 ** (job.attempts - 1)
        logger.warning("job %d (%s %s) failed, retried in %.0f s: %s", job.id, job.kind, job.key, delay, what)
        self._store.retry_later(job.id, owner, delay, what)
        return metrics.JobOutcome.RETRIED

    def _give_up(self, owner: str, job: Job, handler: JobHandler, error: Exception) -> None:
        what = f"{type(error).__name__}: {error}"
        logger.error("job %d (%s %s) failed for good: %s", job.id, job.kind, job.key, what)
        try:
            handler.give_up(job, error)
        finally:
            self._store.finish(job.id, owner, what, failed=True)

    def _keep_lease(self, job: Job, owner: str, done: threading.Event) -> None:
        while not done.wait(self._options.lease_seconds / 3):
            try:
                if not self._store.renew(job.id, owner, self._options.lease_seconds):
                    logger.warning("job %d: lease lost to another worker", job.id)
                    return
            except Exception:
                logger.exception("job %d: renewing its lease failed", job.id)
