"""The worker: claims jobs from the store, keeps their leases alive while they run, retries what failed.

Threads, not processes: a job spends its time waiting on git, the render pool and the forge. Each thread claims
one job at a time, so `concurrency` is the number of pull requests worked on at once by this replica.

The replica beats in the store every `heartbeat_seconds`; the jobs of a replica silent for `dead_after` seconds are
claimed again by the others, and a replica that starts takes back at once what its previous process was running
(same `replica_id`). A job that was abandoned or failed `max_attempts` times is given up: its handler tells the
people waiting (an error status), so nothing stays pending.

A job is read once, here (`jobs.decode`): each workflow gets the payload type it declares. A stored job this bot
cannot read (an unknown kind, a malformed payload) is failed at once with the reason: there is nobody to tell.

A worker never dies of an error. Whatever fails around a job (its handler, its give-up, the store calls that claim
it and record its end) is caught, logged with the job and retried with backoff (tenacity); a job's last write is
retried until it is made, or until the worker stops, when take-back or another replica hands the job on. A
supervisor (the heartbeat's thread) starts again a worker thread that ended anyway. The heartbeat is written only
while this replica can work (a worker thread alive), so the others take its jobs over when it cannot.

Whose fault a failed try is decides whether it counts against `max_attempts`:
- a `TransientFault` (or a store error, or a full disk, met by the handler) is the surroundings': the job is
  retried with backoff capped at `transient_max_delay`, the try spared;
- any other error is the job's own and counts;
- a try cut short because its process died (taken back at the replica's restart, or taken over from a silent
  replica) counts only when the job's own doing is plausible: it is spared when the database restarted after the
  replica's last beat, so the store went away under it (`Queue._requeue`). A lease that expired while its replica
  kept beating (a worker hung in the job) counts. A crash loop while the store is away therefore spends nothing.
After its own store was away, a replica judges no other replica silent (and no lease expired) until it has beaten
again for `dead_after` seconds: the others were silent for the same reason and are working on, not dead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import tenacity

from kpops_bot import metrics
from kpops_bot.fault_causes import transient_fault
from kpops_bot.jobs import Job, JobKind, StoredJob, UnreadableJobError, decode
from kpops_bot.logs import fields_of, job_context
from kpops_bot.store import Store

logger = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P")

_BOOKKEEPING_MAX_DELAY = 10.0  # seconds between tries of a store write that fails
_CLAIM_MAX_DELAY = 10.0


class JobHandler(Protocol[P]):
    """A workflow: `P` is the payload it takes, one its kind carries (`jobs.CARRIES`)."""

    def run(self, job: Job[P]) -> str:
        """Do the job; returns the outcome in a few words. Raising makes it retried later (`TransientFault`:
        without spending one of its attempts)."""
        ...

    def give_up(self, job: Job[P], error: BaseException) -> None:
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
    transient_max_delay: float = 300.0  # the longest wait between tries of a job that met a transient fault
    stuck_after: float = 1800.0  # a worker thread without progress this long is stuck: liveness fails


@dataclass(frozen=True)
class WorkerHealth:
    """What `/readyz` and `/healthz` tell: can this replica work, and is it stuck."""

    threads: int  # worker threads configured (0: this replica only receives)
    working: int  # of them alive and making progress within `stuck_after`
    supervised: bool  # the supervisor (and heartbeat) thread made progress within `stuck_after`
    store_written_ago: float | None  # seconds since the heartbeat last wrote to the store; None: not yet

    def ready(self, bound: float) -> bool:
        """Jobs can run here: a worker thread works and the store took a write within `bound` seconds."""
        written = self.store_written_ago is not None and self.store_written_ago <= bound
        return self.threads == 0 or (self.working > 0 and written)

    @property
    def live(self) -> bool:
        """No worker thread is dead or stuck: otherwise only a restart of the process helps."""
        return self.threads == 0 or (self.working == self.threads and self.supervised)


@dataclass
class _Slot:
    """One worker thread's place: the thread running in it and when it last made progress."""

    index: int
    thread: threading.Thread | None = None
    progress: float = field(default_factory=time.monotonic)

    def moved(self) -> None:
        self.progress = time.monotonic()


class _Stopped(Exception):
    """The worker stops while a store write still fails: the job is left to take-back or another replica."""


class Worker:
    def __init__(self, store: Store, handlers: Mapping[JobKind, JobHandler[Any]], options: WorkerOptions) -> None:
        self._store = store
        self._handlers = dict(handlers)
        self._options = options
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._taken_back = threading.Event()
        self._slots = [_Slot(index) for index in range(options.concurrency)]
        self._supervisor: threading.Thread | None = None
        self._supervisor_slot = _Slot(-1)
        self._written_at: float | None = None  # monotonic: the heartbeat's last write
        self._healthy_since: float | None = None  # monotonic: the store took every heartbeat since
        self._working = True  # a worker thread worked at the last beat
        self._beat_failing = False
        self._name = options.replica_id

    def start(self) -> None:
        if not self._options.concurrency:
            return  # this replica only receives
        for slot in self._slots:
            self._launch(slot)
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
        self._supervisor.start()

    def poll_now(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the jobs running now, claim no more."""
        self._stopping.set()
        self._wake.set()
        for slot in self._slots:
            if slot.thread is not None:
                slot.thread.join()
        if self._supervisor is None:
            return
        self._supervisor.join()
        self._supervisor = None
        try:
            self._store.leave(self._name)
        except Exception as error:  # the others take its jobs over once its heartbeat is old
            logger.warning("could not tell the store this replica leaves: %s", error)

    def health(self) -> WorkerHealth:
        now = time.monotonic()
        bound = self._options.stuck_after
        working = sum(
            1
            for slot in self._slots
            if slot.thread is not None and slot.thread.is_alive() and now - slot.progress <= bound
        )
        supervisor = self._supervisor
        supervised = supervisor is not None and supervisor.is_alive() and now - self._supervisor_slot.progress <= bound
        written = None if self._written_at is None else now - self._written_at
        return WorkerHealth(len(self._slots), working, supervised, written)

    def _launch(self, slot: _Slot) -> None:
        slot.moved()
        slot.thread = threading.Thread(target=self._loop, args=(slot,), name=f"worker-{slot.index}", daemon=True)
        slot.thread.start()

    # The supervisor: takes back, restarts worker threads that ended, beats while this replica can work.

    def _supervise(self) -> None:
        try:
            self._persist("take_back", None, self._take_back, self._supervisor_slot)
        except _Stopped:
            return
        self._taken_back.set()
        while True:
            self._supervisor_slot.moved()
            self._restart_ended()
            self._beat()
            if self._stopping.wait(self._options.heartbeat_seconds):
                return

    def _take_back(self) -> None:
        taken = self._store.take_back(self._name)
        if taken:
            logger.warning("took back %d job(s) this replica was running when it stopped", taken)

    def _restart_ended(self) -> None:
        for slot in self._slots:
            if slot.thread is not None and not slot.thread.is_alive() and not self._stopping.is_set():
                logger.error("worker thread %d ended; starting it again", slot.index)
                metrics.worker_restarts.inc()
                self._launch(slot)
        metrics.worker_threads_alive.set(self.health().working)

    def _beat(self) -> None:
        """Beat while a worker thread works; said in the log when that or the store's answer changes."""
        working = self.health().working > 0
        if working != self._working:
            if working:
                logger.info("a worker thread works again: the heartbeat resumes")
            else:
                logger.error("no worker thread works: the heartbeat stops, so that other replicas take over")
            self._working = working
        if not working:
            return
        try:
            self._store.beat(self._name)
        except Exception as error:
            metrics.store_errors.labels("beat").inc()
            if not self._beat_failing:
                every = self._options.heartbeat_seconds
                logger.warning("the heartbeat cannot be written, tried every %.1f s: %s", every, _described(error))
            self._beat_failing = True
            self._healthy_since = None
            return
        if self._beat_failing and self._written_at is not None:
            logger.info("the heartbeat is written again, after %.1f s", time.monotonic() - self._written_at)
        self._beat_failing = False
        self._written_at = time.monotonic()
        if self._healthy_since is None:
            self._healthy_since = self._written_at

    def _judges_others(self) -> bool:
        """Whether this replica may call others silent: its own store took its beats for `dead_after` seconds."""
        since = self._healthy_since
        return since is not None and time.monotonic() - since >= self._options.dead_after

    # A worker thread.

    def _loop(self, slot: _Slot) -> None:
        while not self._taken_back.wait(self._options.poll_interval):
            slot.moved()
            if self._stopping.is_set():
                return
        while not self._stopping.is_set():
            slot.moved()
            try:
                self._next(slot)
            except _Stopped:
                return
            except Exception:  # a bug of the worker itself: logged, and the thread goes on
                logger.exception("the worker met an unexpected error; it goes on")

    def _next(self, slot: _Slot) -> None:
        options = self._options
        owner = f"{self._name}/{slot.index}"
        job = self._persist(
            "claim",
            None,
            lambda: self._store.claim(
                owner, options.lease_seconds, self._name, options.dead_after, take_over=self._judges_others()
            ),
            slot,
            max_delay=_CLAIM_MAX_DELAY,
        )
        if job is None:
            self._wake.wait(options.poll_interval)
            self._wake.clear()
            return
        self._wake.set()  # there may be more: let an idle sibling look too
        self._work(slot, owner, job)

    def _work(self, slot: _Slot, owner: str, stored: StoredJob) -> None:
        try:
            job = decode(stored)
        except UnreadableJobError as error:
            self._unreadable(slot, owner, stored, f"cannot be read: {error}")
            return
        handler = self._handlers.get(job.kind)
        if handler is None:
            self._unreadable(slot, owner, stored, f"no handler for {job.kind.value!r}")
            return
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_lease, args=(job, owner, done), daemon=True)
        keeper.start()
        started = time.perf_counter()
        result = metrics.JobOutcome.FAILED
        try:
            with job_context(fields_of(job.id, job.kind, job.key)):
                result = self._run(slot, owner, job, handler)
        finally:
            done.set()
            keeper.join()
            metrics.job_duration.labels(job.kind, result).observe(time.perf_counter() - started)

    def _unreadable(self, slot: _Slot, owner: str, job: StoredJob, what: str) -> None:
        """Fail a job this replica cannot run, saying why: retrying it would read it the same way."""
        logger.error("job %d (%s %s) failed for good: %s", job.id, job.kind, job.key, what)
        self._persist("finish", job, lambda: self._store.finish(job.id, owner, what, failed=True), slot)

    def _run(self, slot: _Slot, owner: str, job: Job[Any], handler: JobHandler[Any]) -> metrics.JobOutcome:
        if job.counted > self._options.max_attempts:  # its workers kept stopping, or its give-up could not tell
            what = job.outcome or "abandoned"
            return self._give_up(slot, owner, job, handler, RuntimeError(what), what)
        try:
            outcome = handler.run(job)
        except Exception as error:
            slot.moved()
            return self._failed(slot, owner, job, handler, error)
        slot.moved()
        self._persist("finish", job, lambda: self._store.finish(job.id, owner, outcome), slot)
        metrics.last_job_success.set_to_current_time()
        logger.info("job %d (%s %s): %s", job.id, job.kind, job.key, outcome)
        return metrics.JobOutcome.DONE

    def _failed(
        self, slot: _Slot, owner: str, job: Job[Any], handler: JobHandler[Any], error: Exception
    ) -> metrics.JobOutcome:
        what = f"{type(error).__name__}: {error}"
        fault = transient_fault(error)  # also the store's and the disk's faults a handler let through unnamed
        if fault is not None:
            kind = fault.kind
            delay = self._backoff(job.spared)
            metrics.transient_faults.labels(kind.value).inc()
            logger.warning(
                "job %d (%s %s) met a transient %s fault, retried in %.0f s without spending an attempt: %s",
                job.id,
                job.kind,
                job.key,
                kind.value,
                delay,
                what,
            )
            self._retry_later(slot, owner, job, delay, what, spare=True)
            return metrics.JobOutcome.RETRIED
        if job.counted >= self._options.max_attempts:
            return self._give_up(slot, owner, job, handler, error, what)
        delay = self._options.retry_delay * 2 ** (job.counted - 1)
        logger.warning("job %d (%s %s) failed, retried in %.0f s: %s", job.id, job.kind, job.key, delay, what)
        self._retry_later(slot, owner, job, delay, what, spare=False)
        return metrics.JobOutcome.RETRIED

    def _give_up(
        self, slot: _Slot, owner: str, job: Job[Any], handler: JobHandler[Any], error: Exception, what: str
    ) -> metrics.JobOutcome:
        """Tell the people waiting, then record the job failed with `what`. When telling fails, the job is queued
        again, counted, so that its next claim comes straight back here: the give-up is retried, the job never."""
        logger.error("job %d (%s %s) failed for good: %s", job.id, job.kind, job.key, what)
        try:
            handler.give_up(job, error)
        except Exception as failure:  # the people waiting were not told: give up again later, never drop it
            delay = self._backoff(job.counted - self._options.max_attempts)
            logger.warning(
                "job %d (%s %s): telling that it failed did not work, tried again in %.0f s: %s: %s",
                job.id,
                job.kind,
                job.key,
                delay,
                type(failure).__name__,
                failure,
            )
            self._retry_later(slot, owner, job, delay, what, spare=False)
            return metrics.JobOutcome.RETRIED
        slot.moved()
        self._persist("finish", job, lambda: self._store.finish(job.id, owner, what, failed=True), slot)
        return metrics.JobOutcome.FAILED

    def _retry_later(self, slot: _Slot, owner: str, job: Job[Any], delay: float, what: str, *, spare: bool) -> None:
        self._persist(
            "retry_later", job, lambda: self._store.retry_later(job.id, owner, delay, what, spare=spare), slot
        )

    def _backoff(self, tries: int) -> float:
        """The wait after `tries` earlier tries the surroundings spoiled, capped: the job runs soon after they
        recover."""
        exponent = min(max(tries, 0), 30)  # 2**30 times any delay is past every cap
        return min(self._options.transient_max_delay, self._options.retry_delay * float(2**exponent))

    def _persist(
        self,
        operation: str,
        job: StoredJob | Job[Any] | None,
        call: Callable[[], T],
        slot: _Slot,
        max_delay: float = _BOOKKEEPING_MAX_DELAY,
    ) -> T:
        """`call` (a store operation, named for logs and metrics) tried until it works, with backoff; raises
        `_Stopped` when the worker stops first."""
        about = "" if job is None else f"job {job.id} ({job.kind} {job.key}): "

        def failed(state: tenacity.RetryCallState) -> None:
            slot.moved()
            metrics.store_errors.labels(operation).inc()
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            logger.warning(
                "%s%s failed (try %d), tried again in %.1f s: %s",
                about,
                operation,
                state.attempt_number,
                wait,
                _described(error),
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Exception),
            wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=max_delay, jitter=0.5),
            stop=lambda _state: self._stopping.is_set(),
            sleep=self._pause,
            before_sleep=failed,
            reraise=True,
        )
        try:
            return retrying(call)
        except Exception as error:
            if not self._stopping.is_set():
                raise
            logger.warning("%s%s left undone as the worker stops: %s", about, operation, _described(error))
            raise _Stopped from error

    def _pause(self, seconds: float) -> None:
        """Sleep between tries; cut short when the worker stops."""
        self._stopping.wait(seconds)

    def _keep_lease(self, job: Job[Any], owner: str, done: threading.Event) -> None:
        interval = self._options.lease_seconds / 3
        while not done.wait(interval):
            try:
                if not self._store.renew(job.id, owner, self._options.lease_seconds):
                    logger.warning("job %d: lease lost to another worker", job.id)
                    return
            except Exception as error:  # soon again: the lease must outlast a store that is briefly away
                metrics.store_errors.labels("renew").inc()
                logger.warning("job %d: renewing its lease failed: %s", job.id, _described(error))
                interval = min(self._options.lease_seconds / 3, self._options.heartbeat_seconds)
            else:
                interval = self._options.lease_seconds / 3


def _described(error: BaseException | None) -> str:
    """An error in one line: the driver's first line is what went wrong, the rest is SQLAlchemy's boilerplate."""
    if error is None:
        return "unknown error"
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"
