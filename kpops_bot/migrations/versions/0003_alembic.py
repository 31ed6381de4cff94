"""alembic keeps the schema's version: the hand-made `schema_info` table of databases made before it goes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("schema_info"):
        op.drop_table("schema_info")


def downgrade() -> None:
    """Nothing: a database from before alembic is stamped, not recreated."""
