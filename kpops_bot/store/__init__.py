"""The durable store: deliveries (deduplicated by the forge's delivery id), the job queue, and the tables of the
pipeline locks (`kpops_bot.locks`), on SQLite by default (a file in the data directory) or PostgreSQL for several
replicas.

By concern: `schema.py` (every table), `database.py` (the engine, write transactions, alembic's migrations),
`intake.py` (deliveries and the bot's own jobs written by group commit; the supersede rule), `queue.py` (claim, lease,
heartbeat, finish, retry, take-over). `Store` is all of them, what the rest of the bot imports.

Hand-written on SQLAlchemy Core because no queue library fits: the bot needs SQLite (one process, no service) and
PostgreSQL (replicas) alike, the delivery's dedupe and its job written in the insert's one transaction (a redelivery
never makes a second job), one running job per pull request across threads and replicas, and superseding (a newer
push drops the queued preview). Celery, RQ, Dramatiq and procrastinate each need a broker or PostgreSQL only, and
none offers per-key serialisation with superseding. The schema changes through alembic (`kpops_bot/migrations`).
"""

from __future__ import annotations

import sqlalchemy as sa

from kpops_bot.jobs import Job, JobKind, JobState, NewJob, StoredJob
from kpops_bot.store.database import SchemaTooNewError
from kpops_bot.store.intake import Accepted, Intake
from kpops_bot.store.queue import Queue
from kpops_bot.store.schema import deliveries, jobs, lock_waits, locks, metadata, replicas

__all__ = [  # the jobs' types too, where the code before typed jobs imported them from
    "Accepted", "Job", "JobKind", "JobState", "NewJob", "SchemaTooNewError", "Store", "StoredJob",
    "deliveries", "jobs", "lock_waits", "locks", "metadata", "replicas",
]  # fmt: skip


class Store(Queue):
    """The queue on its database, with the intake that fills it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._intake = Intake(self)

    def close(self) -> None:
        self._intake.close()
        self.engine.dispose()

    def accept(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        """Record a delivery and queue its job, atomically; a delivery seen before changes nothing (`Intake`)."""
        return self._intake.accept(forge, delivery_id, event, job)

    async def accept_async(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        """`accept` for the server's event loop: waits for the group commit without holding a thread."""
        return await self._intake.accept_async(forge, delivery_id, event, job)

    def enqueue(self, job: NewJob) -> int:
        """Queue a job the bot makes itself (no delivery): a command that waited for a lock, for example."""
        return self._intake.enqueue(job)

    def delivery_count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one())
