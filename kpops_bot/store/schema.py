"""Every table of the store's database, the lock tables too: the one description alembic's revisions are checked
against (`tests/test_store.py` compares them) and the intake's statements are compiled from."""

from __future__ import annotations

import sqlalchemy as sa

from kpops_bot.jobs import JobState

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
    # Tries not the job's fault. The database's default alone: the intake's insert leaves it out, so that a database
    # from before the column (migrated after a first write, as a start-up may meet one) takes it.
    sa.Column("spared", sa.Integer, nullable=False, server_default="0"),
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
RUNNING = jobs.c.state == JobState.RUNNING.value
sa.Index("one_running_job_per_key", jobs.c.key, unique=True, sqlite_where=RUNNING, postgresql_where=RUNNING)


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
