"""Pipeline locks per (repository, environment, pipeline), held by a pull request, with a fair line of waiters.

A pull request that runs a command holds what the command touches until it is merged, closed or unlocked;
another pull request's command on a held pipeline waits in line (stored with the job to run again) instead of
failing. Every change is one transaction on the store's database, serialised per repository (SQLite has one writer;
PostgreSQL takes a transaction-scoped advisory lock), so the line is exact across replicas.

Hand-written for the same reason as the queue (`kpops_bot.store`): the locks must live in the store's database on
SQLite and PostgreSQL, be taken for a whole comment at once in one transaction with the wait that stores the job to
run again, and be released with the pull request; lock services (Redis, etcd, advisory-lock libraries) hold locks
for a process's lifetime, not for a pull request's, and keep no fair line of stored jobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kpops_bot.jobs import NewJob, decode_payload, encode
from kpops_bot.model.locks import Granted, Released, Resource, Waiter, Waiting
from kpops_bot.store import Store, lock_waits, locks

logger = logging.getLogger(__name__)


class Locks:
    def __init__(self, store: Store) -> None:
        self._store = store

    @contextmanager
    def _transaction(self, repository: str) -> Iterator[Connection]:
        with self._store.transaction() as connection:
            if connection.dialect.name == "postgresql":
                key = int.from_bytes(hashlib.sha256(repository.encode()).digest()[:8], "big", signed=True)
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield connection

    def acquire(
        self, repository: str, number: int, resources: Collection[Resource], *, wait_key: str, then: NewJob
    ) -> Granted | Waiting:
        """Take every resource for pull request `number`, or join the line (once per `wait_key`) with the job
        to queue again, `then`, when the resources may be free."""
        wanted = set(resources)
        with self._transaction(repository) as connection:
            held = _held(connection, repository)
            held_by = {resource: holder for resource, holder in held.items() if resource in wanted and holder != number}
            own = connection.execute(
                sa.select(lock_waits.c.id).where(
                    lock_waits.c.repository == repository, lock_waits.c.wait_key == wait_key
                )
            ).scalar()
            ahead = [
                waiter.number
                for waiter in _waiters(connection, repository)
                if waiter.number != number and (own is None or waiter.id < own) and waiter.resources & wanted
            ]
            now = time.time()
            if not held_by and not ahead:
                rows = [
                    {"repository": repository, "environment": r.environment, "pipeline": r.pipeline, "number": number}
                    for r in sorted(wanted - set(held))
                ]
                if rows:
                    connection.execute(locks.insert().values(since=now), rows)
                if own is not None:
                    connection.execute(lock_waits.delete().where(lock_waits.c.id == own))
                return Granted()
            if own is None:
                connection.execute(
                    lock_waits.insert().values(
                        repository=repository,
                        number=number,
                        wait_key=wait_key,
                        resources=json.dumps(sorted([r.environment, r.pipeline] for r in wanted)),
                        job_key=then.key,
                        kind=then.kind.value,
                        payload=encode(then.payload),
                        created_at=now,
                    )
                )
            return Waiting(position=len(ahead) + 1, held_by=held_by, ahead=list(dict.fromkeys(ahead)))

    def release(
        self, repository: str, number: int, pipelines: Iterable[str] | None = None, *, forget_waits: bool = False
    ) -> Released:
        """Free what `number` holds (only `pipelines`, when given).

        `forget_waits` also drops the pull request's own place in line (it was merged or closed).
        """
        with self._transaction(repository) as connection:
            condition = sa.and_(locks.c.repository == repository, locks.c.number == number)
            if pipelines is not None:
                condition = sa.and_(condition, locks.c.pipeline.in_(list(pipelines)))
            freed = sorted(
                Resource(row.environment, row.pipeline)
                for row in connection.execute(sa.select(locks.c.environment, locks.c.pipeline).where(condition))
            )
            connection.execute(locks.delete().where(condition))
            if forget_waits:
                connection.execute(
                    lock_waits.delete().where(lock_waits.c.repository == repository, lock_waits.c.number == number)
                )
            woken = [waiter for waiter in _waiters(connection, repository) if waiter.resources & set(freed)]
            return Released(freed, woken)

    def leave(self, repository: str, wait_key: str) -> Released:
        """Drop what waits under `wait_key` from the line (a resumed comment that no longer acts: its head moved);
        the waiters behind it that wanted some of the same resources may go on."""
        with self._transaction(repository) as connection:
            own = lock_waits.c.repository == repository, lock_waits.c.wait_key == wait_key
            gone = connection.execute(sa.select(lock_waits.c.id).where(*own)).scalar()
            if gone is None:
                return Released([], [])
            waiters = _waiters(connection, repository)
            wanted = next((waiter.resources for waiter in waiters if waiter.id == gone), frozenset[Resource]())
            connection.execute(lock_waits.delete().where(lock_waits.c.id == gone))
            return Released([], [waiter for waiter in waiters if waiter.id > gone and waiter.resources & wanted])

    def held(self, repository: str) -> dict[Resource, int]:
        with self._store.engine.connect() as connection:
            return _held(connection, repository)

    def waiting(self, repository: str) -> list[Waiter]:
        with self._store.engine.connect() as connection:
            return _waiters(connection, repository)

    def repositories(self) -> list[str]:
        """Repositories with a lock or a waiter: what start-up reconciles with the forge."""
        with self._store.engine.connect() as connection:
            held = connection.execute(sa.select(locks.c.repository).distinct()).scalars()
            waited = connection.execute(sa.select(lock_waits.c.repository).distinct()).scalars()
            return sorted(set(held) | set(waited))

    def reconcile(self, repository: str, open_numbers: Collection[int]) -> list[Waiter]:
        """Release everything of pull requests that are no longer open; the waiters that may go on now."""
        with self._store.engine.connect() as connection:
            numbers = set(_held(connection, repository).values())
            numbers |= {waiter.number for waiter in _waiters(connection, repository)}
        woken: dict[int, Waiter] = {}
        for number in sorted(numbers - set(open_numbers)):
            for waiter in self.release(repository, number, forget_waits=True).woken:
                woken[waiter.id] = waiter
        return [woken[key] for key in sorted(woken) if woken[key].number in open_numbers]


class RequeuingLocks:
    """The locks as commands and merges use them: what a release frees, the comments waiting for it get (their
    jobs are queued again, in line order; each takes its locks then or keeps its place)."""

    def __init__(self, locks: Locks, store: Store) -> None:
        self._locks = locks
        self._store = store

    def acquire(
        self, repository: str, number: int, resources: Collection[Resource], *, wait_key: str, then: NewJob
    ) -> Granted | Waiting:
        return self._locks.acquire(repository, number, resources, wait_key=wait_key, then=then)

    def release(
        self, repository: str, number: int, pipelines: Collection[str] | None = None, *, forget_waits: bool = False
    ) -> Released:
        released = self._locks.release(repository, number, pipelines, forget_waits=forget_waits)
        self.requeue(released.woken)
        return released

    def leave(self, repository: str, wait_key: str) -> Released:
        released = self._locks.leave(repository, wait_key)
        self.requeue(released.woken)
        return released

    def reconcile(self, repository: str, open_numbers: Collection[int]) -> None:
        """Release what pull requests that are no longer open hold; queue again who waited for it."""
        self.requeue(self._locks.reconcile(repository, open_numbers))

    def requeue(self, waiters: Iterable[Waiter]) -> None:
        for waiter in waiters:
            self._store.enqueue(waiter.job)


def _held(connection: Connection, repository: str) -> dict[Resource, int]:
    rows = connection.execute(
        sa.select(locks.c.environment, locks.c.pipeline, locks.c.number).where(locks.c.repository == repository)
    )
    return {Resource(row.environment, row.pipeline): row.number for row in rows}


def _waiters(connection: Connection, repository: str) -> list[Waiter]:
    """The line, in order; a wait whose job this bot cannot read (a newer version's?) is left out, and logged."""
    rows = connection.execute(
        sa.select(lock_waits).where(lock_waits.c.repository == repository).order_by(lock_waits.c.id)
    )
    waiters = []
    for row in rows:
        try:
            kind, payload = decode_payload(row.kind, json.loads(row.payload))
        except ValueError as error:  # not JSON, or an UnreadableJobError
            logger.error("the wait %s in line for %s cannot be read, left out: %s", row.wait_key, repository, error)
            continue
        resources = frozenset(Resource(env, pipeline) for env, pipeline in json.loads(row.resources))
        waiters.append(
            Waiter(id=row.id, number=row.number, resources=resources, job=NewJob(row.job_key, kind, payload))
        )
    return waiters
