"""The job queue: claimed with a lease, kept alive by the replica's heartbeat, finished, retried, taken over.

A job is claimed with a lease (owner + expiry) by a conditional UPDATE, and a partial unique index allows one
running job per key (a pull request), so two workers can never run work for one PR at once, on either database. A
running job names its replica; replicas keep a heartbeat, so the jobs of a replica that stopped beating are queued
again within seconds, and a restarted replica (same identity) takes its own back at once. The lease is the last
resort (a replica that beats but whose worker hangs). Jobs are queued by the intake (`intake.py`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from kpops_bot.jobs import Job, JobKind, JobState, StoredJob
from kpops_bot.store.database import Database, database_started_at
from kpops_bot.store.schema import RUNNING, jobs, replicas

_ABANDONED = "its worker stopped while running it"


class Queue(Database):
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
            busy = sa.select(jobs.c.key).where(RUNNING).scalar_subquery()
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
            .where(RUNNING, abandoned)
        ).all()
        if not rows:
            return 0
        restarted = database_started_at(connection)
        spared = {row.id for row in rows if restarted and row.heartbeat_at is not None and row.heartbeat_at < restarted}
        for ids, spare in ((spared, 1), ({row.id for row in rows} - spared, 0)):
            if ids:
                connection.execute(
                    jobs.update()
                    .where(jobs.c.id.in_(ids), RUNNING)
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
                .where(jobs.c.id == job_id, jobs.c.lease_owner == owner, RUNNING)
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

    def _job(self, connection: Connection, job_id: int) -> StoredJob:
        return _to_job(connection.execute(sa.select(jobs).where(jobs.c.id == job_id)).one())


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
