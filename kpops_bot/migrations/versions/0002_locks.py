"""Pipeline locks and the line of waiting comments (the store's schema version 2).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "locks",
        sa.Column("repository", sa.String(400), primary_key=True),
        sa.Column("environment", sa.String(200), primary_key=True),
        sa.Column("pipeline", sa.String(400), primary_key=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
    )
    op.create_table(
        "lock_waits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repository", sa.String(400), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("wait_key", sa.String(200), nullable=False),
        sa.Column("resources", sa.Text, nullable=False),
        sa.Column("job_key", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("repository", "wait_key"),
    )


def downgrade() -> None:
    op.drop_table("lock_waits")
    op.drop_table("locks")
