"""The worker on a real store: retries with backoff, gives up once, keeps a long job's lease, survives every error
around a job (a database stopped while it records one, a give-up that cannot tell, a thread that ends anyway), and
spends no attempt on faults that are not the job's."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from kpops_bot import metrics
from kpops_bot.events.codec import dump_event
from kpops_bot.faults import FaultKind, TransientFault
from kpops_bot.jobs import CommandRequest, Job, JobKind
from kpops_bot.store import JobState, Store, jobs
from kpops_bot.worker import Worker, WorkerOptions
from testbed.harness import wait_for
from testbed.postgres import PostgresServer, stoppable_postgres, unavailable_reason
from tests.support.workflow_kit import HEAD, comment_event, queued


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
    worker = Worker(store, {JobKind.DRIFT: handler}, options)
    worker.start()
    try:
        return wait_for(f"the job {state}", lambda: next((j for j in store.jobs() if j.state is state), None), 30)
    finally:
        worker.stop()


def test_a_failing_job_is_retried_and_then_succeeds(store: Store) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))
    handler = FlakyHandler(failures=2)
    options = WorkerOptions(concurrency=1, max_attempts=5, retry_delay=0.05, poll_interval=0.02)
    job = _run_until(store, handler, options, JobState.DONE)
    assert handler.runs == [1, 2, 3]
    assert handler.given_up == []
    assert job.outcome == "done"


def test_a_job_that_keeps_failing_is_given_up_once_with_its_error(store: Store) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))
    handler = FlakyHandler(failures=99)
    options = WorkerOptions(concurrency=2, max_attempts=3, retry_delay=0.05, poll_interval=0.02)
    job = _run_until(store, handler, options, JobState.FAILED)
    assert handler.runs == [1, 2, 3]
    assert handler.given_up == [(job.id, "forge unavailable (run 3)")]
    assert job.outcome == "RuntimeError: forge unavailable (run 3)"


def test_a_job_longer_than_its_lease_keeps_it(store: Store) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))
    handler = FlakyHandler(failures=0, seconds=1.2)  # twice its lease: renewed, or the other thread claims it
    # The replica takes expired leases over once it has beaten for `dead_after` (0.6 s here, not the default 10 s
    # that outlasted the job, so that a lease left to expire would be seen).
    options = WorkerOptions(concurrency=2, lease_seconds=0.6, poll_interval=0.02, heartbeat_seconds=0.1, dead_after=0.6)
    _run_until(store, handler, options, JobState.DONE)
    assert handler.runs == [1]  # never claimed a second time by the other thread


def test_a_restarted_replica_runs_its_predecessors_job_at_once_not_after_the_lease(store: Store) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))
    assert store.claim("replica-a/0", 3600, "replica-a") is not None  # then the process was killed
    handler = FlakyHandler(failures=0)
    options = WorkerOptions(concurrency=1, lease_seconds=3600, poll_interval=0.02, replica_id="replica-a")
    job = _run_until(store, handler, options, JobState.DONE)
    assert handler.runs == [2]
    assert job.outcome == "done"


def test_a_job_whose_workers_keep_dying_is_given_up_so_its_status_is_finished(store: Store) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))
    for _ in range(2):  # killed twice while running it
        assert store.claim("replica-a/0", 3600, "replica-a") is not None
        store.take_back("replica-a")
    handler = FlakyHandler(failures=0)
    options = WorkerOptions(concurrency=1, max_attempts=2, poll_interval=0.02, replica_id="replica-a")
    job = _run_until(store, handler, options, JobState.FAILED)
    assert handler.runs == []
    assert handler.given_up == [(job.id, "its worker stopped while running it")]


class Recording(FlakyHandler):
    """Records the payload each run is handed."""

    def __init__(self) -> None:
        super().__init__(failures=0)
        self.payloads: list[object] = []

    def run(self, job: Job) -> str:
        self.payloads.append(job.payload)
        return super().run(job)


def _row(store: Store, key: str, kind: str, payload: str) -> int:
    """A job row as another kpops-bot may have written it (a version before, or after, this one)."""
    now = time.time()
    values = {"key": key, "kind": kind, "payload": payload, "state": JobState.QUEUED.value, "attempts": 0}
    with store.transaction() as connection:
        inserted = connection.execute(jobs.insert().values(**values, not_before=now, created_at=now))
        assert inserted.inserted_primary_key is not None
        return int(inserted.inserted_primary_key[0])


def test_a_job_queued_before_typed_jobs_is_handed_over_typed_with_its_resumed_flag(store: Store) -> None:
    """A command that waited for a lock, queued again by kpops-bot before typed jobs: its flag and head sat in the
    event's object."""
    comment = comment_event("/kpops deploy word-count")
    old = {**dump_event(comment), "resumed": True, "head": HEAD}
    _row(store, "github:acme/deployments#1", "command", json.dumps(old))
    handler = Recording()
    options = WorkerOptions(concurrency=1, poll_interval=0.02)
    worker = Worker(store, {JobKind.COMMAND: handler}, options)
    worker.start()
    try:
        wait_for("the job done", lambda: store.jobs()[0].state is JobState.DONE, 30)
    finally:
        worker.stop()
    assert handler.payloads == [CommandRequest(comment, resumed=True, head=HEAD)]


def test_a_job_this_bot_cannot_read_fails_saying_why_and_the_worker_goes_on(store: Store) -> None:
    unknown = _row(store, "pr-1", "rebase", "{}")
    malformed = _row(store, "pr-2", "preview", json.dumps({"type": "pull_request", "event": {"number": 1}}))
    readable = store.enqueue(queued("pr-3"))
    handler = Recording()
    options = WorkerOptions(concurrency=1, poll_interval=0.02)
    worker = Worker(store, {JobKind.PREVIEW: handler, JobKind.DRIFT: handler}, options)
    worker.start()
    try:
        wait_for("the readable job done", lambda: store.job(readable).state is JobState.DONE, 30)
    finally:
        worker.stop()
    assert [(store.job(each).state, store.job(each).outcome) for each in (unknown, malformed)] == [
        (JobState.FAILED, "cannot be read: unknown job kind 'rebase'"),
        (JobState.FAILED, "cannot be read: the payload of a preview job cannot be read: delivery: Field required"),
    ]
    assert (handler.given_up, handler.payloads) == ([], [queued("pr-3").payload])  # nobody to tell; the next ran


class TransientHandler(FlakyHandler):
    """Meets a fault of its surroundings (a forge answering 502) its first `failures` runs."""

    def run(self, job: Job) -> str:
        with self._lock:
            self.runs.append(job.attempts)
        if len(self.runs) <= self.failures:
            raise TransientFault(FaultKind.FORGE, "the forge answered 502")
        return "done"


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_transient_fault_is_retried_without_spending_an_attempt(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))
    handler = TransientHandler(failures=4)
    faults = _sample("kpops_bot_transient_faults_total", kind="forge")
    options = WorkerOptions(
        concurrency=1, max_attempts=2, retry_delay=0.01, transient_max_delay=0.05, poll_interval=0.02
    )
    job = _run_until(store, handler, options, JobState.DONE)
    assert handler.runs == [1, 2, 3, 4, 5]  # five tries, with two attempts allowed
    assert handler.given_up == []
    assert (job.attempts, job.spared, job.counted) == (5, 4, 1)
    assert _sample("kpops_bot_transient_faults_total", kind="forge") == faults + 4
    assert "met a transient forge fault" in caplog.text


def test_a_give_up_that_cannot_tell_anyone_is_tried_again_without_running_the_job_again(store: Store) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))

    class Unreachable(FlakyHandler):
        def give_up(self, job: Job, error: BaseException) -> None:
            super().give_up(job, error)
            if len(self.given_up) <= 2:
                msg = "the forge is unreachable"
                raise ConnectionError(msg)

    handler = Unreachable(failures=99)
    options = WorkerOptions(concurrency=1, max_attempts=1, retry_delay=0.01, poll_interval=0.02)
    job = _run_until(store, handler, options, JobState.FAILED)
    assert handler.runs == [1]  # the job ran once; its give-up three times, the last one told
    assert [error for _, error in handler.given_up] == [
        "forge unavailable (run 1)",
        *["RuntimeError: forge unavailable (run 1)"] * 2,  # the outcome it is given up with
    ]
    assert job.outcome == "RuntimeError: forge unavailable (run 1)"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's end, on purpose
def test_a_worker_thread_that_ends_anyway_is_started_again(store: Store) -> None:
    store.accept("github", "d", "pull_request", queued("pr-1"))

    class Exiting(FlakyHandler):
        def run(self, job: Job) -> str:
            if not self.runs:
                self.runs.append(job.attempts)
                raise SystemExit(3)  # what `except Exception` does not catch: a library calling sys.exit
            return super().run(job)

    handler = Exiting(failures=0)
    restarts = _sample("kpops_bot_worker_restarts_total")
    options = WorkerOptions(
        concurrency=1, lease_seconds=0.3, poll_interval=0.02, heartbeat_seconds=0.1, dead_after=0.3, retry_delay=0.01
    )
    worker = Worker(store, {JobKind.DRIFT: handler}, options)
    worker.start()
    try:
        wait_for("the job done", lambda: store.jobs()[0].state is JobState.DONE, 30)
        assert worker.health().working == 1
    finally:
        worker.stop()
    assert handler.runs == [1, 2]  # its lease expired and the restarted thread ran it again
    assert _sample("kpops_bot_worker_restarts_total") == restarts + 1


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with stoppable_postgres() as server:
        yield server


@pytest.mark.postgres  # its own stoppable server: the fixture's name does not tell conftest
def test_a_worker_survives_its_database_stopping_while_it_records_a_job_and_finishes_it_once(
    postgres: PostgresServer,
) -> None:
    store = Store(postgres.url)
    store.migrate()
    for number in (1, 2):
        store.accept("github", f"d-{number}", "pull_request", queued(f"pr-{number}"))

    class StoppingTheDatabase(FlakyHandler):
        def run(self, job: Job) -> str:
            outcome = super().run(job)
            if len(self.runs) == 1:
                postgres.stop()  # the job's work is done; recording its end meets a stopped database
            return outcome

    handler = StoppingTheDatabase(failures=0)
    finishes, claims = _sample("kpops_bot_store_errors_total", operation="finish"), _claim_errors()
    options = WorkerOptions(concurrency=2, poll_interval=0.02, heartbeat_seconds=0.1, retry_delay=0.01)
    worker = Worker(store, {JobKind.DRIFT: handler}, options)
    worker.start()
    try:
        wait_for("a failed finish", lambda: _sample("kpops_bot_store_errors_total", operation="finish") > finishes, 30)
        wait_for("not ready", lambda: not worker.health().ready(0.3), 30)
        time.sleep(3)  # the outage lasts; the workers wait with backoff, not in a loop of failures
        assert _claim_errors() - claims < 20
        postgres.start()
        wait_for("ready again", lambda: worker.health().ready(0.3), 30)
        wait_for("both done", lambda: {job.state for job in store.jobs()} == {JobState.DONE}, 60)
        assert worker.health().working == 2
    finally:
        worker.stop()
        store.close()
    assert sorted(handler.runs) == [1, 1]  # each job ran once


def _claim_errors() -> float:
    return _sample("kpops_bot_store_errors_total", operation="claim")


@pytest.mark.postgres  # its own stoppable server: the fixture's name does not tell conftest
def test_a_crash_loop_while_the_database_is_away_spends_none_of_a_jobs_attempts(postgres: PostgresServer) -> None:
    store = Store(postgres.url)
    store.migrate()
    store.accept("github", "d", "pull_request", queued("pr-1"))
    for _ in range(3):  # claimed, then the database went away and the process died; restarted when it was back
        store.beat("replica-a")
        assert store.claim("replica-a/0", 3600, "replica-a") is not None
        postgres.stop()
        postgres.start()
        assert store.take_back("replica-a") == 1
    handler = FlakyHandler(failures=0)
    options = WorkerOptions(concurrency=1, max_attempts=2, poll_interval=0.02, replica_id="replica-a")
    try:
        job = _run_until(store, handler, options, JobState.DONE)
    finally:
        store.close()
    assert handler.runs == [4] and handler.given_up == []
    assert (job.attempts, job.spared) == (4, 3)


@pytest.mark.postgres  # its own stoppable server: the fixture's name does not tell conftest
def test_after_an_outage_a_replica_does_not_take_over_the_jobs_of_another_that_was_silent_for_the_same_reason(
    postgres: PostgresServer,
) -> None:
    """Replica a (its store calls made here, so that its first beat after the outage comes late) runs a job; b, a
    worker, claims as soon as the database is back: a's beat is older than `dead_after`, yet its job stays a's."""
    store = Store(postgres.url)
    store.migrate()
    store.accept("github", "d-1", "pull_request", queued("pr-1"))
    store.beat("a")
    held = store.claim("a/0", 3600, "a")
    assert held is not None
    handler = FlakyHandler(failures=0)
    options = WorkerOptions(concurrency=1, replica_id="b", poll_interval=0.05, heartbeat_seconds=0.1, dead_after=5)
    worker = Worker(store, {JobKind.DRIFT: handler}, options)
    worker.start()
    try:
        wait_for("b beating", lambda: worker.health().store_written_ago is not None, 30)
        postgres.stop()
        time.sleep(6)  # longer than dead_after: a's last beat is old when the database is back
        postgres.start()
        store.enqueue(queued("pr-2"))
        wait_for("b claimed again", lambda: store.jobs()[1].state is JobState.DONE, 30)
        assert store.job(held.id).state is JobState.RUNNING and store.job(held.id).replica_id == "a"
    finally:
        worker.stop()
        store.close()
    assert handler.runs == [1]  # pr-2 only
