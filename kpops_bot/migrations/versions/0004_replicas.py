"""Replicas keep a heartbeat, and a running job names its replica: a dead replica's jobs are taken over in seconds.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("replica_id", sa.String(400), primary_key=True),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("replica_id", sa.String(400), nullable=True))
