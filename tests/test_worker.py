"""The worker on a real store: retries with backoff, gives up once, keeps a long job's lease."""

from __future__ import annotations

import threading
import time

from kpops_bot.store import Job, JobState, NewJob, Store
from kpops_bot.worker import Worker, WorkerOptions
from tests.support.harness import wait_for


class FlakyHandler:
    """Fails its first `failures` runs, then succeeds; records every call."""

    def __init__(self, failures: int, seconds: float = 0.0) -> None:
        self.failures = failures
        self.seconds = seconds
        self.runs: list[int] = []
        self.given_up: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def run(self, job: Job) -> str:
        with self._lock:
            self.runs.append(job.attempts)
        time.sleep(self.seconds)
        if len(self.runs) <= self.failures:
            msg = f"forge unavailable (run {len(self.runs)})"
            raise RuntimeError(msg)
        return "done"

    def give_up(self, job: Job, error: BaseException) -> None:
        self.given_up.append((job.id, str(error)))


def _run_until(store: Store, handler: FlakyHandler, options: WorkerOptions, state: JobState) -> Job:
    worker = Worker(store, {"work": handler}, options)
    worker.start()
    try:
        return wait_for(f"the job {state}", lambda: next((j for j in store.jobs() if j.state is state), None), 30)
    finally:
        worker.stop()


def test_a_failing_job_is_retried_and_then_succeeds(store: Store) -> None:
    store.accept("github", "d", "pull_request", NewJob("pr-1", "work", {}))
    handler = FlakyHandler(failures=2)
    options = WorkerOptions(concurrency=1, max_attempts=5, retry_delay=0.05, poll_interval=0.02)
    job = _run_until(store, handler, options, JobState.DONE)
    assert handler.runs == [1, 2, 3]
    assert handler.given_up == []
    assert job.outcome == "done"


def test_a_job_that_keeps_failing_is_given_up_once_with_its_error(store: Store) -> None:
    store.accept("github", "d", "pull_request", NewJob("pr-1", "work", {}))
    handler = FlakyHandler(failures=99)
    options = WorkerOptions(concurrency=2, max_attempts=3, retry_delay=0.05, poll_interval=0.02)
    job = _run_until(store, handler, options, JobState.FAILED)
    assert handler.runs == [1, 2, 3]
    assert handler.given_up == [(job.id, "forge unavailable (run 3)")]
    assert job.outcome == "RuntimeError: forge unavailable (run 3)"


def test_a_job_longer_than_its_lease_keeps_it(store: Store) -> None:
    store.accept("github", "d", "pull_request", NewJob("pr-1", "work", {}))
    handler = FlakyHandler(failures=0, seconds=1.5)
    options = WorkerOptions(concurrency=2, lease_seconds=0.5, poll_interval=0.02)
    _run_until(store, handler, options, JobState.DONE)
    assert handler.runs == [1]  # never claimed a second time by the other thread


def test_a_restarted_replica_runs_its_predecessors_job_at_once_not_after_the_lease(store: Store) -> None:
    store.accept("github", "d", "pull_request", NewJob("pr-1", "work", {}))
    assert store.claim("replica-a/0", 3600, "replica-a") is not None  # then the process was killed
    handler = FlakyHandler(failures=0)
    options = WorkerOptions(concurrency=1, lease_seconds=3600, poll_interval=0.02, replica_id="replica-a")
    job = _run_until(store, handler, options, JobState.DONE)
    assert handler.runs == [2]
    assert job.outcome == "done"


def test_a_job_whose_workers_keep_dying_is_given_up_so_its_status_is_finished(store: Store) -> None:
    store.accept("github", "d", "pull_request", NewJob("pr-1", "work", {}))
    for _ in range(2):  # killed twice while running it
        assert store.claim("replica-a/0", 3600, "replica-a") is not None
        store.take_back("replica-a")
    handler = FlakyHandler(failures=0)
    options = WorkerOptions(concurrency=1, max_attempts=2, poll_interval=0.02, replica_id="replica-a")
    job = _run_until(store, handler, options, JobState.FAILED)
    assert handler.runs == []
    assert handler.given_up == [(job.id, "its worker stopped while running it")]
