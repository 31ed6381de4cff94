"""The durable intake: a delivery recorded with its job in one transaction, deliveries arriving together written in
one (group commit), and the jobs the bot queues itself (a comment whose turn in a lock's line came, a drift
check) written the same way.

One writer thread takes every delivery waiting and stores them in one transaction, on a driver connection of its
own: every webhook waits for this transaction, so it speaks to the database driver (DBAPI) directly with the four
statements below instead of going through SQLAlchemy Core, whose work per statement (building it, its cache key,
the execution context, events) outweighed SQLite's own: a sender alone cost the store about a third of the CPU per
delivery it did through Core (`bench/store.py`). The statements are compiled once per database from the tables of
`schema.py`, never written by hand; errors come out as SQLAlchemy's, like every other error of the store.

The supersede rule is applied here alone, for deliveries and the bot's own jobs alike: a new job makes the queued
jobs of its `NewJob.superseded` pairs (key, kind) pointless, those stored before it (one statement) and those of
its own batch that come before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler

from kpops_bot.jobs import JobState, NewJob, encode
from kpops_bot.store.database import Database
from kpops_bot.store.schema import deliveries, jobs

_BATCH_ATTEMPTS = 3
SUPERSEDED = "superseded by a newer delivery"


@dataclass(frozen=True)
class Accepted:
    job_id: int | None
    duplicate: bool


@dataclass(frozen=True)
class _Entry:
    """What one caller hands the writer: a delivery (forge, id, event) and its job, or a job the bot makes itself."""

    delivery: tuple[str, str, str] | None
    job: NewJob | None
    payload: str | None  # the job's, encoded by the caller's thread: the writer's is the one all deliveries wait for

    @classmethod
    def of(cls, delivery: tuple[str, str, str] | None, job: NewJob | None) -> _Entry:
        return cls(delivery, job, None if job is None else encode(job.payload))


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

    def __init__(self, write: Callable[[list[_Entry]], list[Accepted]]) -> None:
        self._write = write
        self._waiting: queue.Queue[tuple[_Entry, Waiter] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def enqueue(self, delivery: _Entry, settle: Waiter) -> None:
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

    def _commit(self, batch: list[tuple[_Entry, Waiter]]) -> None:
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


@dataclass(frozen=True)
class _Sql:
    """A statement compiled for one database's driver, with its parameters' names in the driver's order."""

    text: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: sa.ClauseElement, dialect: Dialect) -> _Sql:
        # Positional parameters, the fastest form for both drivers: `?` for sqlite3, `%s` for psycopg.
        dialect_type = cast(type[DefaultDialect], type(dialect))
        positional = dialect_type(paramstyle="qmark" if dialect.name == "sqlite" else "format")
        compiled = cast(SQLCompiler, statement.compile(dialect=positional))
        return cls(str(compiled), tuple(compiled.positiontup or ()))

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(values[name] for name in self.names)


_JOB_COLUMNS = ("key", "kind", "forge", "delivery_id", "head_sha", "payload", "state", "attempts", "not_before",
                "created_at", "finished_at", "outcome")  # fmt: skip
_DELIVERY_COLUMNS = ("forge", "delivery_id", "event", "received_at", "job_id")


class _Statements:
    """The intake's statements, compiled from the tables once."""

    def __init__(self, dialect: Dialect) -> None:
        known = sa.select(deliveries.c.job_id).where(
            deliveries.c.forge == sa.bindparam("forge"), deliveries.c.delivery_id == sa.bindparam("delivery_id")
        )
        supersede = (
            jobs.update()
            .where(
                jobs.c.key == sa.bindparam("superseded_key"),
                jobs.c.state == sa.bindparam("queued"),
                jobs.c.kind == sa.bindparam("superseded_kind"),
            )
            .values(state=sa.bindparam("superseded"), finished_at=sa.bindparam("now"), outcome=sa.bindparam("why"))
        )
        insert_job = jobs.insert().values({name: sa.bindparam(name) for name in _JOB_COLUMNS}).returning(jobs.c.id)
        insert_delivery = deliveries.insert().values({name: sa.bindparam(name) for name in _DELIVERY_COLUMNS})
        self.known = _Sql.of(known, dialect)
        self.supersede = _Sql.of(supersede, dialect)
        self.insert_job = _Sql.of(insert_job, dialect)
        self.insert_delivery = _Sql.of(insert_delivery, dialect)


class _BatchWriter:
    """Stores a batch of deliveries and jobs in one transaction, on a driver connection of its own; used by the
    group commit's thread alone."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._sql = _Statements(self._engine.dialect)
        self._connection: PoolProxiedConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a connection the database dropped
                self._connection.close()
            self._connection = None

    def write(self, batch: list[_Entry]) -> list[Accepted]:
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

    def _insert(self, cursor: Any, batch: list[_Entry]) -> list[Accepted]:
        now = time.time()
        known: dict[tuple[str, str], int | None] = {}
        first_of: dict[tuple[str, str], int] = {}
        fresh: list[int] = []  # what is stored: new deliveries (the first of a batch's repeats) and the bot's jobs
        for index, entry in enumerate(batch):
            if entry.delivery is None:
                fresh.append(index)
                continue
            ident = entry.delivery[:2]
            if ident in known or ident in first_of:
                continue
            cursor.execute(self._sql.known.text, self._sql.known.row({"forge": ident[0], "delivery_id": ident[1]}))
            row = cursor.fetchone()
            if row is not None:
                known[ident] = row[0]
            else:
                first_of[ident] = index
                fresh.append(index)
        job_ids = self._insert_jobs(cursor, batch, [index for index in fresh if batch[index].job is not None], now)
        self._insert_deliveries(cursor, batch, fresh, job_ids, now)
        results: list[Accepted] = []
        for index, entry in enumerate(batch):
            if entry.delivery is None:
                results.append(Accepted(job_id=job_ids.get(index), duplicate=False))
                continue
            ident = entry.delivery[:2]
            if ident in known:
                results.append(Accepted(job_id=known[ident], duplicate=True))
            else:
                first = first_of[ident]
                results.append(Accepted(job_id=job_ids.get(first), duplicate=first != index))
        return results

    def _insert_jobs(self, cursor: Any, batch: list[_Entry], with_jobs: list[int], now: float) -> dict[int, int]:
        """The batch's jobs stored after what they supersede; their ids by index in the batch."""
        new_jobs = {index: job for index in with_jobs if (job := batch[index].job) is not None}
        pointless = _superseded_in_batch(new_jobs)
        pairs = sorted({pair for job in new_jobs.values() for pair in job.superseded})  # one order: no deadlock
        if pairs:
            supersede = self._sql.supersede
            done = {"queued": JobState.QUEUED.value, "superseded": JobState.SUPERSEDED.value, "now": now}
            rows = [supersede.row({**done, "why": SUPERSEDED, "superseded_key": key, "superseded_kind": kind.value})
                    for key, kind in pairs]  # fmt: skip
            cursor.executemany(supersede.text, rows)
        job_ids: dict[int, int] = {}
        for index, job in new_jobs.items():
            superseded = index in pointless
            delivery = batch[index].delivery
            values = {
                "key": job.key, "kind": job.kind.value, "forge": delivery[0] if delivery else None,
                "delivery_id": delivery[1] if delivery else None, "head_sha": job.head_sha,
                "payload": batch[index].payload, "attempts": 0, "not_before": now, "created_at": now,
                "state": (JobState.SUPERSEDED if superseded else JobState.QUEUED).value,
                "finished_at": now if superseded else None, "outcome": SUPERSEDED if superseded else None,
            }  # fmt: skip
            cursor.execute(self._sql.insert_job.text, self._sql.insert_job.row(values))
            job_ids[index] = int(cursor.fetchone()[0])
        return job_ids

    def _insert_deliveries(
        self, cursor: Any, batch: list[_Entry], fresh: list[int], job_ids: dict[int, int], now: float
    ) -> None:
        sql = self._sql.insert_delivery
        rows = [
            sql.row({"forge": delivery[0], "delivery_id": delivery[1], "event": delivery[2], "received_at": now,
                     "job_id": job_ids.get(index)})
            for index in fresh
            if (delivery := batch[index].delivery) is not None
        ]  # fmt: skip
        if rows:
            cursor.executemany(sql.text, rows)


def _superseded_in_batch(new_jobs: dict[int, NewJob]) -> set[int]:
    """The jobs of a batch that a later job of it makes pointless: stored superseded at once."""
    later: set[tuple[str, str]] = set()
    pointless: set[int] = set()
    for index, job in reversed(new_jobs.items()):
        if (job.key, job.kind) in later:
            pointless.add(index)
        later.update(job.superseded)
    return pointless


class Intake:
    """Deliveries and the bot's own jobs, stored through the group commit."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._batch_writer = _BatchWriter(database)
        self._group_commit = _GroupCommit(self._accept_all)

    def close(self) -> None:
        self._group_commit.close()
        self._batch_writer.close()

    def accept(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        """Record a delivery and queue its job, atomically; a delivery seen before changes nothing.

        Deliveries that arrive together are written in one transaction (group commit): one flush to disk for
        many.
        """
        return self._stored(_Entry.of((forge, delivery_id, event), job))

    async def accept_async(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        """`accept` for the server's event loop: waits for the group commit without holding a thread."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Accepted] = loop.create_future()
        self._group_commit.enqueue(_Entry.of((forge, delivery_id, event), job), _LoopWaiter(loop, result))
        return await result

    def enqueue(self, job: NewJob) -> int:
        """Queue a job the bot makes itself (no delivery): a command that waited for a lock, for example."""
        job_id = self._stored(_Entry.of(None, job)).job_id
        assert job_id is not None  # an entry with a job always stores it
        return job_id

    def _stored(self, entry: _Entry) -> Accepted:
        result: Future[Accepted] = Future()
        self._group_commit.enqueue(entry, functools.partial(_settle_future, result))
        return result.result()

    def _accept_all(self, batch: list[_Entry]) -> list[Accepted]:
        for attempt in range(_BATCH_ATTEMPTS):
            try:
                with self._database.write_lock:
                    return self._batch_writer.write(batch)
            except IntegrityError:  # another replica stored one of these meanwhile: the next try sees it as known
                if attempt == _BATCH_ATTEMPTS - 1:
                    raise
            except DBAPIError as error:  # a connection the database dropped is opened again once per attempt
                if not error.connection_invalidated or attempt == _BATCH_ATTEMPTS - 1:
                    raise
        raise AssertionError  # unreachable: the loop returns or raises
