"""Deliveries and the job queue (the store's schema version 1).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("forge", sa.String(16), primary_key=True),
        sa.Column("delivery_id", sa.String(200), primary_key=True),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("job_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("forge", sa.String(16), nullable=True),
        sa.Column("delivery_id", sa.String(200), nullable=True),
        sa.Column("head_sha", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", sa.Float, nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
    )
    op.create_index("jobs_claimable", "jobs", ["state", "not_before", "id"])
    op.create_index("jobs_by_key", "jobs", ["key", "state"])
    op.create_index("jobs_by_delivery", "jobs", ["delivery_id"])
    running = sa.text("state = 'running'")
    op.create_index(
        "one_running_job_per_key", "jobs", ["key"], unique=True, sqlite_where=running, postgresql_where=running
    )


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("deliveries")
