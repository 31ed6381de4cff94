"""The durable store: deliveries (deduplicated by the forge's delivery id) and the job queue.

SQLAlchemy Core over SQLite by default (a file in the data directory) or PostgreSQL for several replicas. The queue
needs no lock service: a job is claimed with a lease (owner + expiry) by a conditional UPDATE, and a partial unique
index allows one running job per key (a pull request), so two workers can never run work for one PR at once, on
either database. A running job names its replica; replicas keep a heartbeat, so the jobs of a replica that stopped
beating are queued again within seconds, and a restarted replica (same identity) takes its own back at once. The
lease is the last resort (a replica that beats but whose worker hangs).

Hand-written on SQLAlchemy Core because no queue library fits: the bot needs SQLite (one process, no service) and
PostgreSQL (replicas) alike, the delivery's dedupe and its job written in the insert's one transaction (a redelivery
never makes a second job), one running job per pull request across threads and replicas, and superseding (a newer
push drops the queued preview). Celery, RQ, Dramatiq and procrastinate each need a broker or PostgreSQL only, and
none offers per-key serialisation with superseding. The schema changes through alembic (`kpops_bot/migrations`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import PoolProxiedConnection

from kpops_bot.jobs import Job, JobKind, JobState, NewJob, StoredJob, encode

__all__ = [  # the jobs' types, where the code before typed jobs imported them from
    "Accepted", "Job", "JobKind", "JobState", "NewJob", "SchemaTooNewError", "Store", "StoredJob",
    "deliveries", "jobs", "lock_waits", "locks", "metadata", "replicas",
]  # fmt: skip

# Versions of the `schema_info` table that databases made before alembic carry → the revision they equal.
_LEGACY_REVISIONS = {1: "0001", 2: "0002"}
_MIGRATION_LOCK = 0x6B706F7073  # PostgreSQL advisory lock: one replica migrates at a time
_BATCH_ATTEMPTS = 3
_CONNECT_TIMEOUT = 5  # seconds
_ABANDONED = "its worker stopped while running it"
_SUPERSEDED = "superseded by a newer delivery"

metadata = sa.MetaData()

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("forge", sa.String(16), primary_key=True),
    sa.Column("delivery_id", sa.String(200), primary_key=True),
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("job_id", sa.Integer, nullable=True),
)


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("forge", sa.String(16), nullable=True),  # the delivery that made it (none for internal jobs)
    sa.Column("delivery_id", sa.String(200), nullable=True),
    sa.Column("head_sha", sa.String(64), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # tries: each claim counts one
    sa.Column("spared", sa.Integer, nullable=False, default=0, server_default="0"),  # tries not the job's fault
    sa.Column("not_before", sa.Float, nullable=False),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("replica_id", sa.String(400), nullable=True),  # the replica running it
    sa.Column("lease_expires", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("outcome", sa.Text, nullable=True),
)
sa.Index("jobs_claimable", jobs.c.state, jobs.c.not_before, jobs.c.id)
sa.Index("jobs_by_key", jobs.c.key, jobs.c.state)
sa.Index("jobs_by_delivery", jobs.c.delivery_id)
_RUNNING = jobs.c.state == JobState.RUNNING.value
sa.Index("one_running_job_per_key", jobs.c.key, unique=True, sqlite_where=_RUNNING, postgresql_where=_RUNNING)


replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("replica_id", sa.String(400), primary_key=True),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)


locks = sa.Table(
    "locks",
    metadata,
    sa.Column("repository", sa.String(400), primary_key=True),  # forge:full/name
    sa.Column("environment", sa.String(200), primary_key=True),  # "" for kpops' default environment
    sa.Column("pipeline", sa.String(400), primary_key=True),
    sa.Column("number", sa.Integer, nullable=False),  # the pull request holding it
    sa.Column("since", sa.Float, nullable=False),
)

lock_waits = sa.Table(
    "lock_waits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # the order of the line
    sa.Column("repository", sa.String(400), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("wait_key", sa.String(200), nullable=False),  # what waits: a comment, so a retry does not queue twice
    sa.Column("resources", sa.Text, nullable=False),  # JSON [[environment, pipeline], ...]
    sa.Column("job_key", sa.String(400), nullable=False),  # the job to queue again when it is its turn
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("repository", "wait_key"),
)


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer kpops-bot; this one must not write to it."""


@dataclass(frozen=True)
class Accepted:
    job_id: int | None
    duplicate: bool


@dataclass(frozen=True)
class _Delivery:
    forge: str
    delivery_id: str
    event: str
    job: NewJob | None
    payload: str | None  # the job's, encoded by the caller's thread: the writer's is the one all deliveries wait for

    @classmethod
    def of(cls, forge: str, delivery_id: str, event: str, job: NewJob | None) -> _Delivery:
        return cls(forge, delivery_id, event, job, None if job is None else encode(job.payload))


Settle = Callable[["Accepted | Exception"], None]


@dataclass(frozen=True)
class _LoopWaiter:
    """A delivery awaited on an event loop: a batch settles all of a loop's waiters with one wake-up."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Accepted]


Waiter = Settle | _LoopWaiter


class _GroupCommit:
    """One writer thread takes every delivery waiting and stores them in one transaction.

    A caller hands over a delivery with the function that receives its outcome: a thread waits on a future, the
    server's event loop on an asyncio future (no thread hop per request). A lone delivery is written at once.
    """

    _MAX_BATCH = 256

    def __init__(self, write: Callable[[list[_Delivery]], list[Accepted]]) -> None:
        self._write = write
        self._waiting: queue.Queue[tuple[_Delivery, Waiter] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def enqueue(self, delivery: _Delivery, settle: Waiter) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
                self._thread.start()
        self._waiting.put((delivery, settle))

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._waiting.put(None)
                self._thread.join()
                self._thread = None

    def _run(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._MAX_BATCH:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._waiting.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[_Delivery, Waiter]]) -> None:
        outcomes: list[Accepted | Exception]
        try:
            outcomes = list(self._write([delivery for delivery, _ in batch]))
        except Exception as error:  # the whole transaction failed: every caller hears why
            outcomes = [error] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Accepted], Accepted | Exception]]] = {}
        for (_, waiter), outcome in zip(batch, outcomes, strict=True):
            if isinstance(waiter, _LoopWaiter):
                by_loop.setdefault(waiter.loop, []).append((waiter.future, outcome))
            else:
                waiter(outcome)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
                loop.call_soon_threadsafe(_settle_asyncio, settled)


def _settle_future(future: Future[Accepted], outcome: Accepted | Exception) -> None:
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_asyncio(settled: list[tuple[asyncio.Future[Accepted], Accepted | Exception]]) -> None:
    for future, outcome in settled:
        if future.cancelled():  # the sender hung up; the delivery is stored all the same
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class _BatchWriter:
    """Stores a batch of deliveries and their jobs in one transaction, on a driver connection of its own.

    Every webhook waits for this transaction, so it speaks to the database driver (DBAPI) directly with the few
    fixed statements below instead of going through SQLAlchemy Core, whose work per statement (building it, its
    cache key, the execution context, events) outweighed SQLite's own: a sender alone cost the store about a third
    of the CPU per delivery it did through Core (`bench/store.py`, against the store before this class). The
    statements are plain SQL that SQLite (3.35 or later, for RETURNING) and PostgreSQL both run, on the tables
    defined above; errors come out as SQLAlchemy's, like every other error of the store. Used by the group
    commit's thread alone.
    """

    KNOWN = "SELECT job_id FROM deliveries WHERE forge = ? AND delivery_id = ?"
    SUPERSEDE = "UPDATE jobs SET state = ?, finished_at = ?, outcome = ? WHERE key = ? AND state = ? AND kind = ?"
    INSERT_JOB = (
        "INSERT INTO jobs (key, kind, forge, delivery_id, head_sha, payload, state, attempts, not_before,"
        " created_at, finished_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
    )
    INSERT_DELIVERY = "INSERT INTO deliveries (forge, delivery_id, event, received_at, job_id) VALUES (?, ?, ?, ?, ?)"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        placeholder = "?" if self._sqlite else "%s"  # written with SQLite's; PostgreSQL's driver takes %s
        self._known, self._supersede, self._insert_job, self._insert_delivery = (
            statement.replace("?", placeholder)
            for statement in (self.KNOWN, self.SUPERSEDE, self.INSERT_JOB, self.INSERT_DELIVERY)
        )
        self._connection: PoolProxiedConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a connection the database dropped
                self._connection.close()
            self._connection = None

    def write(self, batch: list[_Delivery]) -> list[Accepted]:
        dbapi_error = self._engine.dialect.loaded_dbapi.Error
        try:  # the pool opens connections outside SQLAlchemy's error wrapping: a stopped server's raw error
            if self._connection is None:
                self._connection = self._engine.raw_connection()
            connection: Any = self._connection.driver_connection
            cursor = connection.cursor()
        except dbapi_error as error:
            if self._connection is not None:  # its cursor could not be made: the connection is gone
                with contextlib.suppress(Exception):
                    self._connection.invalidate()
                self._connection = None
            raise DBAPIError.instance(
                None, None, error, dbapi_error, connection_invalidated=True, dialect=self._engine.dialect
            ) from error
        try:
            if self._sqlite:  # the write lock at once; the driver leaves transactions to us (see `_engine`)
                cursor.execute("BEGIN IMMEDIATE")
            accepted = self._insert(cursor, batch)
            connection.commit()
        except dbapi_error as error:
            invalidated = self._engine.dialect.is_disconnect(error, connection, cursor)
            self._abandon(connection, invalidated)
            raise DBAPIError.instance(
                None, None, error, dbapi_error, connection_invalidated=invalidated, dialect=self._engine.dialect
            ) from error
        except BaseException:
            self._abandon(connection, invalidated=False)
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
        return accepted

    def _abandon(self, connection: Any, invalidated: bool) -> None:
        """Roll back what the failed batch began; a connection that cannot even do that is opened anew."""
        if not invalidated:
            try:
                connection.rollback()
            except Exception:  # any driver failure here means the connection is unusable
                invalidated = True
        if invalidated and self._connection is not None:
            self._connection.invalidate()
            self._connection = None

    def _insert(self, cursor: Any, batch: list[_Delivery]) -> list[Accepted]:
        now = time.time()
        known: dict[tuple[str, str], int | None] = {}
        first_of: dict[tuple[str, str], int] = {}
        fresh: list[int] = []
        for index, delivery in enumerate(batch):
            ident = (delivery.forge, delivery.delivery_id)
            if ident in known or ident in first_of:
                continue
            cursor.execute(self._known, ident)
            row = cursor.fetchone()
            if row is not None:
                known[ident] = row[0]
            else:
                first_of[ident] = index
                fresh.append(index)
        with_jobs = [index for index in fresh if batch[index].job is not None]
        superseded = {
            (job.superseded_key, kind)
            for index in with_jobs
            if (job := batch[index].job) is not None
            for kind in job.supersedes
        }
        if superseded:
            cursor.executemany(
                self._supersede,
                [
                    (JobState.SUPERSEDED.value, now, _SUPERSEDED, key, JobState.QUEUED.value, kind)
                    for key, kind in sorted(superseded)
                ],
            )
        job_ids: dict[int, int] = {}
        for index in with_jobs:
            cursor.execute(self._insert_job, _job_row(batch, index, with_jobs, now))
            job_ids[index] = int(cursor.fetchone()[0])
        if fresh:
            cursor.executemany(
                self._insert_delivery,
                [
                    (batch[index].forge, batch[index].delivery_id, batch[index].event, now, job_ids.get(index))
                    for index in fresh
                ],
            )
        results: list[Accepted] = []
        for index, delivery in enumerate(batch):
            ident = (delivery.forge, delivery.delivery_id)
            if ident in known:
                results.append(Accepted(job_id=known[ident], duplicate=True))
            else:
                first = first_of[ident]
                results.append(Accepted(job_id=job_ids.get(first), duplicate=first != index))
        return results


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        # SQLite has one writer at a time; queueing writers here is fair and fast, where SQLite's own busy
        # handler sleeps in steps of up to 100 ms. PostgreSQL needs no such lock.
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if url.startswith("sqlite") else contextlib.nullcontext()
        )
        self._batch_writer = _BatchWriter(self.engine)
        self._group_commit = _GroupCommit(self._accept_all)

    def close(self) -> None:
        self._group_commit.close()
        self._batch_writer.close()
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (serialised in this process for SQLite, which has one writer anyway)."""
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    def migrate(self) -> None:
        """Bring the database to the newest schema with alembic (`kpops_bot.migrations`), in one transaction.

        A database made before alembic (its version in `schema_info`) is stamped at the revision it equals, then
        upgraded in place; one that a newer kpops-bot migrated is refused.
        """
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", "kpops_bot:migrations")
        known = {revision.revision for revision in ScriptDirectory.from_config(config).walk_revisions()}
        with self.transaction() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None and sa.inspect(connection).has_table("schema_info"):
                version = connection.execute(sa.text("SELECT version FROM schema_info")).scalar()
                if version not in _LEGACY_REVISIONS:
                    msg = f"the database has schema version {version}, this kpops-bot knows {max(_LEGACY_REVISIONS)}"
                    raise SchemaTooNewError(msg)
                command.stamp(config, _LEGACY_REVISIONS[version])
            elif current is not None and current not in known:
                msg = f"the database has schema revision {current}, which this kpops-bot does not know (newer?)"
                raise SchemaTooNewError(msg)
            command.upgrade(config, "head")

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()

    def accept(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        """Record a delivery and queue its job, atomically; a delivery seen before changes nothing.

        Deliveries that arrive together are written in one transaction (group commit): one flush to disk for
        many.
        """
        result: Future[Accepted] = Future()
        self._group_commit.enqueue(
            _Delivery.of(forge, delivery_id, event, job), functools.partial(_settle_future, result)
        )
        return result.result()

    async def accept_async(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        """`accept` for the server's event loop: waits for the group commit without holding a thread."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Accepted] = loop.create_future()
        self._group_commit.enqueue(_Delivery.of(forge, delivery_id, event, job), _LoopWaiter(loop, result))
        return await result

    def _accept_all(self, batch: list[_Delivery]) -> list[Accepted]:
        for attempt in range(_BATCH_ATTEMPTS):
            try:
                with self._write_lock:
                    return self._batch_writer.write(batch)
            except IntegrityError:  # another replica stored one of these meanwhile: the next try sees it as known
                if attempt == _BATCH_ATTEMPTS - 1:
                    raise
            except DBAPIError as error:  # a connection the database dropped is opened again once per attempt
                if not error.connection_invalidated or attempt == _BATCH_ATTEMPTS - 1:
                    raise
        raise AssertionError  # unreachable: the loop returns or raises

    def _supersede_queued(self, new_jobs: list[NewJob], connection: Connection, now: float) -> None:
        """Queued jobs the new ones make pointless (same key, a kind they supersede) are marked so."""
        groups: dict[tuple[str, ...], set[str]] = {}
        for job in new_jobs:
            if job.supersedes:
                groups.setdefault(tuple(sorted(job.supersedes)), set()).add(job.superseded_key)
        for kinds, keys in groups.items():
            connection.execute(
                jobs.update()
                .where(jobs.c.key.in_(keys), jobs.c.state == JobState.QUEUED.value, jobs.c.kind.in_(kinds))
                .values(state=JobState.SUPERSEDED.value, finished_at=now, outcome=_SUPERSEDED)
            )

    def enqueue(self, job: NewJob) -> int:
        """Queue a job the bot makes itself (no delivery): a command that waited for a lock, for example."""
        now = time.time()
        with self.transaction() as connection:
            self._supersede_queued([job], connection, now)
            result = connection.execute(
                jobs.insert().values(
                    key=job.key,
                    kind=job.kind,
                    head_sha=job.head_sha,
                    payload=encode(job.payload),
                    state=JobState.QUEUED.value,
                    attempts=0,
                    not_before=now,
                    created_at=now,
                )
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            return int(inserted[0])

    def beat(self, replica_id: str) -> None:
        """The replica is alive (workers call this every few seconds)."""
        now = time.time()
        with self.transaction() as connection:
            updated = connection.execute(
                replicas.update().where(replicas.c.replica_id == replica_id).values(heartbeat_at=now)
            )
            if updated.rowcount == 0:
                connection.execute(replicas.insert().values(replica_id=replica_id, heartbeat_at=now))

    def take_back(self, replica_id: str) -> int:
        """A replica starting: the jobs its previous process was running are queued again at once; how many.

        Call it before the replica's first `beat`: whether a try was the job's fault is judged by its last beat.
        """
        with self.transaction() as connection:
            return self._requeue(connection, jobs.c.replica_id == replica_id)

    def leave(self, replica_id: str) -> None:
        """A replica stopping cleanly: it runs nothing any more."""
        with self.transaction() as connection:
            connection.execute(replicas.delete().where(replicas.c.replica_id == replica_id))

    def claim(
        self,
        owner: str,
        lease_seconds: float,
        replica_id: str | None = None,
        dead_after: float | None = None,
        *,
        take_over: bool = True,
    ) -> StoredJob | None:
        """The oldest runnable job whose key has no running job, leased to `owner` of `replica_id`; None when there
        is none. First, with `take_over`, the jobs of replicas silent for `dead_after` seconds and of expired leases
        are queued again (see `_requeue` for whether the try counts: the worker gives a job up that was stopped
        too often)."""
        now = time.time()
        with self.transaction() as connection:
            if take_over:
                self._requeue_abandoned(connection, now, dead_after)
            busy = sa.select(jobs.c.key).where(_RUNNING).scalar_subquery()
            candidates = connection.execute(
                sa.select(jobs.c.id)
                .where(jobs.c.state == JobState.QUEUED.value, jobs.c.not_before <= now, jobs.c.key.not_in(busy))
                .order_by(jobs.c.id)
                .limit(20)
            ).all()
        for (job_id,) in candidates:
            claimed = self._try_claim(job_id, owner, now + lease_seconds, replica_id)
            if claimed is not None:
                return claimed
        return None

    def _requeue_abandoned(self, connection: Connection, now: float, dead_after: float | None) -> None:
        abandoned: sa.ColumnElement[bool] = jobs.c.lease_expires < now
        if dead_after is not None:
            silent = sa.select(replicas.c.replica_id).where(replicas.c.heartbeat_at < now - dead_after)
            abandoned = sa.or_(abandoned, jobs.c.replica_id.in_(silent))
        self._requeue(connection, abandoned)

    def _requeue(self, connection: Connection, abandoned: sa.ColumnElement[bool]) -> int:
        """Queue again the running jobs `abandoned` selects; how many.

        Whether the cut-short try counts against the job: it is spared when the database restarted after the
        job's replica last beat, so the store went away under that replica (what it died of, or at least what it
        met before it died); otherwise it counts, as the job's own doing is then plausible (its process died or
        its worker hung while running it, the store fine), and a job that keeps doing that must end. SQLite, a
        file, has no restart: there a dying process counts (a full data disk fails writes, the worker rides it out).
        """
        rows = connection.execute(
            sa.select(jobs.c.id, replicas.c.heartbeat_at)
            .select_from(jobs.outerjoin(replicas, jobs.c.replica_id == replicas.c.replica_id))
            .where(_RUNNING, abandoned)
        ).all()
        if not rows:
            return 0
        restarted = _database_started_at(connection)
        spared = {row.id for row in rows if restarted and row.heartbeat_at is not None and row.heartbeat_at < restarted}
        for ids, spare in ((spared, 1), ({row.id for row in rows} - spared, 0)):
            if ids:
                connection.execute(
                    jobs.update()
                    .where(jobs.c.id.in_(ids), _RUNNING)
                    .values(
                        state=JobState.QUEUED.value,
                        lease_owner=None,
                        replica_id=None,
                        outcome=_ABANDONED,
                        spared=jobs.c.spared + spare,
                    )
                )
        return len(rows)

    def _try_claim(self, job_id: int, owner: str, expires: float, replica_id: str | None) -> StoredJob | None:
        try:
            with self.transaction() as connection:
                claimed = connection.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.state == JobState.QUEUED.value)
                    .values(
                        state=JobState.RUNNING.value,
                        lease_owner=owner,
                        replica_id=replica_id,
                        lease_expires=expires,
                        attempts=jobs.c.attempts + 1,
                    )
                )
                if claimed.rowcount != 1:
                    return None
                return self._job(connection, job_id)
        except IntegrityError:  # another worker started a job with this key first
            return None

    def renew(self, job_id: int, owner: str, lease_seconds: float) -> bool:
        """Extend a lease still held; False when the job was taken away (lease expired and claimed again)."""
        with self.transaction() as connection:
            result = connection.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.lease_owner == owner, _RUNNING)
                .values(lease_expires=time.time() + lease_seconds)
            )
            return result.rowcount == 1

    def finish(self, job_id: int, owner: str, outcome: str, *, failed: bool = False) -> None:
        state = JobState.FAILED if failed else JobState.DONE
        with self.transaction() as connection:
            connection.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.lease_owner == owner)
                .values(state=state.value, lease_owner=None, finished_at=time.time(), outcome=outcome)
            )

    def retry_later(self, job_id: int, owner: str, delay: float, outcome: str, *, spare: bool = False) -> None:
        """Queue the job again in `delay` seconds; `spare`: this try was not its fault and does not count."""
        with self.transaction() as connection:
            connection.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.lease_owner == owner)
                .values(
                    state=JobState.QUEUED.value,
                    lease_owner=None,
                    not_before=time.time() + delay,
                    outcome=outcome,
                    spared=jobs.c.spared + int(spare),
                )
            )

    def record_head(self, job_id: int, sha: str) -> str:
        """The head commit the job is bound to: `sha` unless one was recorded before (by the delivery or an earlier
        run of the job), which stands. A command keeps the head it first saw through retries and replicas."""
        with self.transaction() as connection:
            connection.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.head_sha.is_(None)).values(head_sha=sha))
            recorded = connection.execute(sa.select(jobs.c.head_sha).where(jobs.c.id == job_id)).scalar_one_or_none()
        return sha if recorded is None else str(recorded)  # a job not in the store (gone) is bound to what it sees

    def newer(self, job: StoredJob | Job[Any], kinds: Sequence[JobKind]) -> StoredJob | None:
        """The newest job of these kinds for the same key queued after `job` (whose result would be outdated at
        once); None when there is none."""
        with self.engine.connect() as connection:
            newer = connection.execute(
                sa.select(jobs)
                .where(
                    jobs.c.key == job.key,
                    jobs.c.id > job.id,
                    jobs.c.kind.in_(kinds),
                    jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                )
                .order_by(jobs.c.id.desc())
                .limit(1)
            ).first()
        return None if newer is None else _to_job(newer)

    def job(self, job_id: int) -> StoredJob:
        with self.engine.connect() as connection:
            return self._job(connection, job_id)

    def jobs(self, key: str | None = None) -> list[StoredJob]:
        query = sa.select(jobs).order_by(jobs.c.id)
        if key is not None:
            query = query.where(jobs.c.key == key)
        with self.engine.connect() as connection:
            return [_to_job(row) for row in connection.execute(query)]

    def delivery_count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one())

    def _job(self, connection: Connection, job_id: int) -> StoredJob:
        return _to_job(connection.execute(sa.select(jobs).where(jobs.c.id == job_id)).one())


def _job_row(batch: list[_Delivery], index: int, with_jobs: list[int], now: float) -> tuple[Any, ...]:
    """The row of batch[index]'s job (`_BatchWriter.INSERT_JOB`'s columns); queued, unless a later job of the same
    batch supersedes it already."""
    job = batch[index].job
    assert job is not None
    later = [batch[other].job for other in with_jobs if other > index]
    superseded = any(other is not None and other.supersedes_job(job.key, job.kind) for other in later)
    state = JobState.SUPERSEDED if superseded else JobState.QUEUED
    finished_at, outcome = (now, _SUPERSEDED) if superseded else (None, None)
    return (job.key, job.kind.value, batch[index].forge, batch[index].delivery_id, job.head_sha, batch[index].payload,
            state.value, 0, now, now, finished_at, outcome)  # fmt: skip


def _to_job(row: sa.Row[Any]) -> StoredJob:
    return StoredJob(
        id=row.id,
        key=row.key,
        kind=row.kind,
        head_sha=row.head_sha,
        payload=row.payload,
        state=JobState(row.state),
        attempts=row.attempts,
        lease_owner=row.lease_owner,
        outcome=row.outcome,
        replica_id=row.replica_id,
        spared=row.spared,
    )


def _database_started_at(connection: Connection) -> float | None:
    """When the database server last started (PostgreSQL); None when it has no such moment (SQLite, a file)."""
    if connection.dialect.name != "postgresql":
        return None
    started = connection.execute(sa.text("SELECT extract(epoch FROM pg_postmaster_start_time())")).scalar_one()
    return float(started)


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        # A server that does not answer fails a connection in seconds instead of the system's minutes of TCP
        # retries: the worker then retries its bookkeeping, and readiness says so.
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": _CONNECT_TIMEOUT})
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _configure(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Take the write lock at once: two deferred transactions that both upgrade to writing would deadlock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
