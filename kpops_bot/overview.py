"""Read-only views of the store for the operator: the metrics' gauges and the status page's tables.

Only reads, in a connection of their own: a scrape or a page view never takes the store's write lock.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kpops_bot.jobs import JobState
from kpops_bot.store import Store, deliveries, jobs, lock_waits, locks

_RECENT = 50


@dataclass(frozen=True)
class JobRow:
    id: int
    key: str
    kind: str
    state: JobState
    attempts: int
    head_sha: str | None
    delivery_id: str | None
    created_at: float
    finished_at: float | None
    outcome: str | None
    pull_request_url: str | None

    @property
    def result(self) -> str:
        """How the job truly ended, for a reader: a job that ran to its end (`done`) but whose work failed and was
        answered so (`failed: UnknownPipelineError`) failed; the state alone would say `done` beside it."""
        if self.state is JobState.DONE and (self.outcome or "").startswith(_FAILED_OUTCOME):
            return JobState.FAILED.value
        return self.state.value


_FAILED_OUTCOME = "failed"


@dataclass(frozen=True)
class LockRow:
    repository: str
    environment: str
    pipeline: str
    number: int
    since: float


@dataclass(frozen=True)
class WaitRow:
    repository: str
    number: int
    place: int
    resources: list[tuple[str, str]]
    created_at: float


@dataclass(frozen=True)
class DeliveryRow:
    forge: str
    delivery_id: str
    event: str
    received_at: float
    job_id: int | None


@dataclass(frozen=True)
class Overview:
    active: list[JobRow]  # queued and running, newest first
    recent: list[JobRow]  # finished, newest first
    locks: list[LockRow]
    waits: list[WaitRow]
    deliveries: list[DeliveryRow]


@dataclass(frozen=True)
class Step:
    at: float
    what: str  # delivery, queued, finished
    text: str


@dataclass(frozen=True)
class Timeline:
    """One pull request's story as the store knows it: deliveries, the jobs they made and how each ended (what
    a job wrote to the forge, its comment, status or commit, is in its outcome)."""

    key: str
    steps: list[Step]
    jobs: list[JobRow]
    locks: list[LockRow]


def gauges(store: Store) -> dict[str, float]:
    """The numbers every replica shares, for `/metrics`."""
    now = time.time()
    with store.engine.connect() as connection:
        by_state: dict[str, int] = dict(
            connection.execute(
                sa.select(jobs.c.state, sa.func.count())
                .where(jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))
                .group_by(jobs.c.state)
            ).all()
        )
        oldest = connection.execute(
            sa.select(sa.func.min(jobs.c.created_at)).where(jobs.c.state == JobState.QUEUED.value)
        ).scalar()
        held = connection.execute(sa.select(sa.func.count()).select_from(locks)).scalar_one()
        waiting = connection.execute(sa.select(sa.func.count()).select_from(lock_waits)).scalar_one()
    return {
        "queued": float(by_state.get(JobState.QUEUED.value, 0)),
        "running": float(by_state.get(JobState.RUNNING.value, 0)),
        "oldest_age": max(0.0, now - oldest) if oldest is not None else 0.0,
        "locks_held": float(held),
        "lock_waits": float(waiting),
    }


def overview(store: Store, links: PullRequestLinks) -> Overview:
    active_states = [JobState.QUEUED.value, JobState.RUNNING.value]
    with store.engine.connect() as connection:
        active = connection.execute(
            sa.select(jobs).where(jobs.c.state.in_(active_states)).order_by(jobs.c.id.desc())  # newest first
        )
        recent = connection.execute(
            sa.select(jobs).where(jobs.c.state.not_in(active_states)).order_by(jobs.c.id.desc()).limit(_RECENT)
        )
        active_rows = [_job_row(row, links) for row in active]
        recent_rows = [_job_row(row, links) for row in recent]
        lock_rows = _locks(connection, None)
        wait_rows = _waits(connection)
        delivery_rows = _deliveries(
            connection, sa.select(deliveries).order_by(deliveries.c.received_at.desc()).limit(_RECENT)
        )
    return Overview(active_rows, recent_rows, lock_rows, wait_rows, delivery_rows)


def timeline(store: Store, key: str, links: PullRequestLinks) -> Timeline:
    """`key` as jobs name a pull request: `forge:owner/name#number`."""
    repository, _, number = key.rpartition("#")
    with store.engine.connect() as connection:
        job_rows = [_job_row(row, links) for row in connection.execute(sa.select(jobs).where(jobs.c.key == key))]
        ids = [row.id for row in job_rows]
        delivery_rows = _deliveries(
            connection,
            sa.select(deliveries).where(deliveries.c.job_id.in_(ids)).order_by(deliveries.c.received_at),
        )
        lock_rows = [row for row in _locks(connection, repository) if str(row.number) == number]
    job_rows.sort(key=lambda row: row.id)
    return Timeline(key, _steps(delivery_rows, job_rows), job_rows, lock_rows)


def _steps(delivery_rows: list[DeliveryRow], job_rows: list[JobRow]) -> list[Step]:
    steps = [
        Step(d.received_at, "delivery", f"{d.forge} {d.event} delivery {d.delivery_id} → job {d.job_id}")
        for d in delivery_rows
    ]
    for job in job_rows:
        head = f" at {job.head_sha[:10]}" if job.head_sha else ""
        steps.append(Step(job.created_at, "queued", f"job {job.id} ({job.kind}{head}) queued"))
        if job.finished_at is not None:
            tries = f"after {job.attempts} attempt(s)" if job.attempts else "before it ran"
            text = f"job {job.id} {job.state.value} {tries}: {job.outcome or ''}"
            steps.append(Step(job.finished_at, "finished", text))
    order = {"delivery": 0, "queued": 1, "finished": 2}
    return sorted(steps, key=lambda step: (step.at, order[step.what]))


class PullRequestLinks:
    """Web addresses of pull requests, from the forges' configured URLs (never from a delivery)."""

    def __init__(self, github_web: str, gitlab_web: str) -> None:
        self._web = {"github": github_web.rstrip("/"), "gitlab": gitlab_web.rstrip("/")}

    def url(self, key: str) -> str | None:
        forge, _, rest = key.partition(":")
        full_name, hash_sign, number = rest.rpartition("#")
        if not hash_sign or not number.isdigit() or forge not in self._web:
            return None
        path = "pull" if forge == "github" else "-/merge_requests"
        return f"{self._web[forge]}/{full_name}/{path}/{number}"


def _job_row(row: sa.Row[Any], links: PullRequestLinks) -> JobRow:
    return JobRow(
        id=row.id,
        key=row.key,
        kind=row.kind,
        state=JobState(row.state),
        attempts=row.attempts,
        head_sha=row.head_sha,
        delivery_id=row.delivery_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        outcome=row.outcome,
        pull_request_url=links.url(row.key),
    )


def _locks(connection: sa.Connection, repository: str | None) -> list[LockRow]:
    query = sa.select(locks).order_by(locks.c.repository, locks.c.environment, locks.c.pipeline)
    if repository is not None:
        query = query.where(locks.c.repository == repository)
    return [
        LockRow(row.repository, row.environment, row.pipeline, row.number, row.since)
        for row in connection.execute(query)
    ]


def _waits(connection: sa.Connection) -> list[WaitRow]:
    rows = connection.execute(sa.select(lock_waits).order_by(lock_waits.c.repository, lock_waits.c.id)).all()
    places: dict[str, int] = {}
    result: list[WaitRow] = []
    for row in rows:
        places[row.repository] = places.get(row.repository, 0) + 1
        resources = [(str(environment), str(pipeline)) for environment, pipeline in json.loads(row.resources)]
        result.append(WaitRow(row.repository, row.number, places[row.repository], resources, row.created_at))
    return result


def _deliveries(connection: sa.Connection, query: sa.Select[tuple[object, ...]]) -> list[DeliveryRow]:
    return [
        DeliveryRow(row.forge, row.delivery_id, row.event, row.received_at, row.job_id)
        for row in connection.execute(query)
    ]
