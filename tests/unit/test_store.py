from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kpops_bot.events.model import Forge
from kpops_bot.jobs import DriftCheck, NewJob
from kpops_bot.store import (
    JobState,
    SchemaTooNewError,
    Store,
    deliveries,
    jobs,
    lock_waits,
    locks,
    metadata,
    replicas,
)
from testbed.harness import wait_for
from tests.support.workflow_kit import queued

# Seconds of a lease or delay that the next statement surely comes within, even on a busy machine.
SHORT = 0.5


def _preview(key: str = "github:org/repo#1", sha: str = "a" * 40) -> NewJob:
    return queued(key, "preview", head_sha=sha, supersedes=("preview",))


def test_a_delivery_is_recorded_once_and_its_job_queued_once(store: Store) -> None:
    first = store.accept("github", "d-1", "pull_request", _preview())
    again = store.accept("github", "d-1", "pull_request", _preview())
    assert not first.duplicate
    assert again.duplicate
    assert again.job_id == first.job_id
    assert [job.state for job in store.jobs()] == [JobState.QUEUED]
    assert store.delivery_count() == 1


def test_the_same_delivery_id_on_another_forge_is_another_delivery(store: Store) -> None:
    store.accept("github", "same", "pull_request", _preview())
    store.accept("gitlab", "same", "Merge Request Hook", _preview(key="gitlab:g/p!1"))
    assert store.delivery_count() == 2


def test_a_newer_head_supersedes_the_queued_preview_of_the_same_pull_request(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", _preview(sha="1" * 40))
    store.accept("github", "d-2", "pull_request", _preview(key="github:org/repo#2", sha="2" * 40))
    store.accept("github", "d-3", "pull_request", _preview(sha="3" * 40))
    states = {(job.key, job.head_sha): job.state for job in store.jobs()}
    assert states == {
        ("github:org/repo#1", "1" * 40): JobState.SUPERSEDED,
        ("github:org/repo#2", "2" * 40): JobState.QUEUED,
        ("github:org/repo#1", "3" * 40): JobState.QUEUED,
    }


def test_one_supersede_rule_for_deliveries_a_batch_of_them_and_the_bots_own_jobs(store: Store) -> None:
    """A newer job makes queued jobs of its key and the kinds it names pointless, whether it came alone, in one
    group commit with them (twenty previews sent at once), or from the bot itself (a drift check); a running job,
    another kind and another key are left as they are."""
    key = "github:org/repo#1"
    store.accept("github", "d-run", "pull_request", _preview(sha="0" * 40))
    running = store.claim("w", 60)
    store.accept("github", "c", "issue_comment", queued(key, "command"))
    store.accept("github", "d-other", "pull_request", _preview(key="github:org/repo#2"))

    async def burst() -> list[int | None]:
        sent = [store.accept_async("github", f"d-{n}", "pull_request", _preview(sha=f"{n:040d}")) for n in range(20)]
        return [accepted.job_id for accepted in await asyncio.gather(*sent)]

    previews = asyncio.run(burst())
    check = DriftCheck(Forge.GITHUB, "org/repo", "main")
    drifts = [store.enqueue(check.job()), store.enqueue(check.job())]
    states = {job.id: (job.state, job.outcome) for job in store.jobs()}
    superseded = (JobState.SUPERSEDED, "superseded by a newer delivery")
    newest = max(job_id for job_id in previews if job_id is not None)
    assert [states[job_id] for job_id in previews if job_id != newest] == [superseded] * 19
    assert states[newest] == states[drifts[1]] == (JobState.QUEUED, None)
    assert states[drifts[0]] == superseded
    assert running is not None and states[running.id][0] is JobState.RUNNING
    assert [job.state for job in store.jobs("github:org/repo#2")] == [JobState.QUEUED]
    assert [job.state for job in store.jobs(key) if job.kind == "command"] == [JobState.QUEUED]


def test_a_merge_apply_keyed_by_its_branch_supersedes_the_queued_previews_of_its_pull_request(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", _preview(sha="1" * 40))
    apply = queued("github:org/repo@main", "apply", "9" * 40, ("preview",), supersedes_key="github:org/repo#1")
    store.accept("github", "d-2", "pull_request", apply)
    states = {(job.key, job.kind): job.state for job in store.jobs()}
    assert states == {
        ("github:org/repo#1", "preview"): JobState.SUPERSEDED,
        ("github:org/repo@main", "apply"): JobState.QUEUED,
    }


def test_one_job_per_key_runs_at_a_time_and_other_keys_run_meanwhile(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", queued("pr-1", "close"))
    store.accept("github", "d-2", "pull_request", queued("pr-1", "drift"))
    store.accept("github", "d-3", "pull_request", queued("pr-2", "close"))
    first = store.claim("w1", 60)
    second = store.claim("w2", 60)
    assert first is not None and second is not None
    assert (first.key, second.key) == ("pr-1", "pr-2")
    assert store.claim("w3", 60) is None  # pr-1's second job waits for its first
    store.finish(first.id, "w1", "done")
    third = store.claim("w3", 60)
    assert third is not None
    assert (third.key, third.kind, third.attempts) == ("pr-1", "drift", 1)


def test_a_job_whose_lease_expired_is_claimed_again(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", _preview())
    lost = store.claim("dead-worker", SHORT)
    assert lost is not None
    assert store.claim("w2", 60) is None
    again = wait_for("the lease to expire", lambda: store.claim("w2", 60), timeout=60)
    assert again is not None
    assert (again.id, again.attempts, again.lease_owner) == (lost.id, 2, "w2")
    assert not store.renew(lost.id, "dead-worker", 60)  # the dead worker's lease is gone
    store.finish(lost.id, "dead-worker", "late result")  # and its late finish changes nothing
    assert store.job(lost.id).state is JobState.RUNNING
    assert store.renew(again.id, "w2", 60)


def test_a_restarted_replica_takes_back_its_own_running_jobs_at_once(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", queued("pr-1"))
    store.accept("github", "d-2", "pull_request", queued("pr-2"))
    mine = store.claim("replica-a/0", 120, "replica-a")
    others = store.claim("replica-b/0", 120, "replica-b")
    assert mine is not None and others is not None
    assert store.take_back("replica-a") == 1
    again = store.claim("replica-a/1", 120, "replica-a")
    assert again is not None
    assert (again.id, again.attempts, again.outcome) == (mine.id, 2, "its worker stopped while running it")
    assert store.job(others.id).state is JobState.RUNNING  # another replica's job is its own business


def test_the_jobs_of_a_replica_that_stopped_beating_are_claimed_again_long_before_their_lease(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", queued("pr-1"))
    store.accept("github", "d-2", "pull_request", queued("pr-2"))
    store.beat("alive")
    store.beat("dead")
    dead_job = store.claim("dead/0", 120, "dead")
    alive_job = store.claim("alive/0", 120, "alive")
    assert dead_job is not None and alive_job is not None
    assert store.claim("alive/1", 120, "alive", dead_after=10) is None  # both beat just now
    with store.transaction() as connection:  # the dead replica's last beat was 11 s ago
        connection.execute(
            replicas.update().where(replicas.c.replica_id == "dead").values(heartbeat_at=time.time() - 11)
        )
    taken = store.claim("alive/1", 120, "alive", dead_after=10)
    assert taken is not None and taken.id == dead_job.id
    assert store.job(alive_job.id).state is JobState.RUNNING
    store.leave("alive")
    with store.engine.connect() as connection:
        assert [row.replica_id for row in connection.execute(sa.select(replicas))] == ["dead"]


def test_retry_later_waits_before_the_job_is_claimed_again(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", _preview())
    job = store.claim("w", 60)
    assert job is not None
    store.retry_later(job.id, "w", SHORT, "forge unavailable")
    assert store.claim("w", 60) is None
    wait_for("the delay to pass", lambda: store.claim("w", 60), timeout=60)


def test_a_command_job_keeps_the_head_it_recorded_first_and_the_one_its_delivery_named(store: Store) -> None:
    unnamed = store.enqueue(queued("github:org/repo#1", "command"))
    named = store.enqueue(queued("gitlab:org/repo#1", "command", head_sha="c" * 40))
    assert store.record_head(unnamed, "a" * 40) == "a" * 40
    assert store.record_head(unnamed, "b" * 40) == "a" * 40  # a retry, or another replica, reads the first back
    assert store.job(unnamed).head_sha == "a" * 40
    assert store.record_head(named, "b" * 40) == "c" * 40


def test_newer_finds_the_latest_preview_of_the_same_key(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", _preview(sha="1" * 40))
    job = store.claim("w", 60)
    assert job is not None
    assert store.newer(job, ["preview"]) is None
    store.accept("github", "d-2", "pull_request", _preview(sha="2" * 40))
    store.accept("github", "d-3", "pull_request", _preview(sha="3" * 40))
    newer = store.newer(job, ["preview"])
    assert newer is not None and newer.head_sha == "3" * 40
    assert store.newer(job, ["close"]) is None


def test_concurrent_workers_never_claim_the_same_job_or_key_twice(store: Store) -> None:
    for number in range(30):
        store.accept("github", f"d-{number}", "pull_request", queued(f"pr-{number % 10}"))
    running: set[str] = set()
    guard = threading.Lock()
    done: list[int] = []
    errors: list[str] = []

    def work(name: str) -> None:
        idle = 0
        while idle < 20:
            job = store.claim(name, 30)
            if job is None:
                idle += 1
                time.sleep(0.01)
                continue
            with guard:
                if job.key in running:
                    errors.append(f"{job.key} ran twice at once")
                running.add(job.key)
            time.sleep(0.005)
            with guard:
                running.discard(job.key)
                done.append(job.id)
            store.finish(job.id, name, "ok")

    threads = [threading.Thread(target=work, args=(f"w{index}",)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(done) == sorted(job.id for job in store.jobs())
    assert {job.state for job in store.jobs()} == {JobState.DONE}


def _revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_the_migrations_make_exactly_the_schema_the_store_queries(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert _revision(store) == "0005"


def test_migrate_is_idempotent_and_refuses_a_newer_schema(store: Store) -> None:
    store.accept("github", "d-1", "pull_request", _preview())
    store.migrate()
    assert len(store.jobs()) == 1
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaTooNewError, match="schema revision 9999"):
        store.migrate()


@pytest.mark.parametrize("version", [1, 2])
def test_a_database_from_before_alembic_is_upgraded_in_place(database_url: str, version: int) -> None:
    """As the bot made them: tables by `create_all`, the version in `schema_info` (1: no lock tables yet)."""
    legacy = Store(database_url)
    tables = [deliveries, jobs] if version == 1 else [deliveries, jobs, locks, lock_waits]
    metadata.create_all(legacy.engine, tables=tables)
    with legacy.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE jobs DROP COLUMN replica_id"))  # jobs named no replica then
        connection.execute(sa.text("ALTER TABLE jobs DROP COLUMN spared"))  # nor spared tries
        connection.execute(sa.text("CREATE TABLE schema_info (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"))
        connection.execute(sa.text("INSERT INTO schema_info (id, version) VALUES (1, :version)"), {"version": version})
    queued = legacy.accept("github", "d-old", "pull_request", _preview())
    legacy.migrate()
    assert [job.id for job in legacy.jobs()] == [queued.job_id]
    assert _revision(legacy) == "0005"
    with legacy.engine.connect() as connection:
        assert not sa.inspect(connection).has_table("schema_info")
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert legacy.accept("github", "d-old", "pull_request", _preview()).duplicate  # the delivery is still known
    legacy.close()


def test_a_database_of_a_newer_bot_from_before_alembic_is_refused(database_url: str) -> None:
    legacy = Store(database_url)
    with legacy.engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE schema_info (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"))
        connection.execute(sa.text("INSERT INTO schema_info (id, version) VALUES (1, 99)"))
    with pytest.raises(SchemaTooNewError, match="schema version 99"):
        legacy.migrate()
    legacy.close()


def test_deliveries_arriving_together_are_deduplicated_and_superseded_within_their_batch(store: Store) -> None:
    barrier = threading.Barrier(24)
    answers: list[object] = []

    def deliver(index: int) -> None:
        barrier.wait()
        if index < 12:  # twelve copies of one delivery
            answers.append(store.accept("github", "same-delivery", "pull_request", _preview(key="pr-dup")))
        else:  # twelve pushes to one pull request
            sha = f"{index:040d}"
            answers.append(store.accept("github", f"push-{index}", "pull_request", _preview(key="pr-push", sha=sha)))

    threads = [threading.Thread(target=deliver, args=(index,)) for index in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duplicates = [a for a in answers if getattr(a, "duplicate", False)]
    assert len(duplicates) == 11
    assert len(store.jobs("pr-dup")) == 1
    assert {getattr(a, "job_id", None) for a in duplicates} == {store.jobs("pr-dup")[0].id}
    pushes = store.jobs("pr-push")
    assert len(pushes) == 12
    assert [job.state for job in pushes].count(JobState.QUEUED) == 1
    assert pushes[-1].state is JobState.QUEUED  # the last one stored is the one left to run
    assert store.delivery_count() == 13


def test_two_replicas_storing_the_same_deliveries_at_once_make_one_job_each(store: Store) -> None:
    replica = Store(store.url)  # a second process's store on the same database
    barrier = threading.Barrier(20)
    errors: list[Exception] = []

    def deliver(target: Store) -> None:
        barrier.wait()
        for number in range(10):
            try:
                target.accept("github", f"d-{number}", "pull_request", queued(f"pr-{number}", "close"))
            except Exception as error:  # a sender would have got a 503 here
                errors.append(error)

    threads = [threading.Thread(target=deliver, args=(store if index % 2 else replica,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replica.close()
    assert errors == []
    assert sorted(job.key for job in store.jobs()) == sorted(f"pr-{number}" for number in range(10))
    assert store.delivery_count() == 10


def test_intake_opens_a_new_connection_when_the_database_dropped_its_own(postgres_url: str) -> None:
    """The intake keeps one connection; a server restart or an idle timeout drops it, and no delivery may be refused
    for that (a refused delivery is one the forge does not send again by itself)."""
    opened = Store(postgres_url)
    opened.migrate()
    try:
        opened.accept("github", "before-drop", "pull_request", _preview("pr-dropped"))
        with opened.engine.begin() as connection:  # what a server restart does to the intake's connection
            dropped = connection.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                )
            ).scalar_one()
        assert dropped >= 1
        after = opened.accept("github", "after-drop", "pull_request", _preview("pr-dropped"))
        assert not after.duplicate
        assert [job.state for job in opened.jobs("pr-dropped")] == [JobState.SUPERSEDED, JobState.QUEUED]
    finally:
        opened.close()


def test_a_failed_intake_transaction_stores_nothing_and_the_next_batch_is_stored(store: Store) -> None:
    good = _preview("pr-good")
    unstorable = replace(queued("pr-bad", "preview", supersedes=("preview",)), head_sha=object())  # type: ignore[arg-type]
    with pytest.raises(sa.exc.DBAPIError):  # the driver cannot write an object: after the supersede ran
        store.accept("github", "d-bad", "pull_request", unstorable)
    assert store.delivery_count() == 0
    assert not store.accept("github", "d-good", "pull_request", good).duplicate
    assert [job.key for job in store.jobs()] == ["pr-good"]
