"""The database under the store: the engine for SQLite (a file, one writer) or PostgreSQL (replicas), its write
transactions, and its schema brought up to date with alembic (`kpops_bot/migrations`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

# Versions of the `schema_info` table that databases made before alembic carry → the revision they equal.
_LEGACY_REVISIONS = {1: "0001", 2: "0002"}
_MIGRATION_LOCK = 0x6B706F7073  # PostgreSQL advisory lock: one replica migrates at a time
_CONNECT_TIMEOUT = 5  # seconds


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer kpops-bot; this one must not write to it."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        # SQLite has one writer at a time; queueing writers here is fair and fast, where SQLite's own busy
        # handler sleeps in steps of up to 100 ms. PostgreSQL needs no such lock.
        self.write_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if url.startswith("sqlite") else contextlib.nullcontext()
        )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (serialised in this process for SQLite, which has one writer anyway)."""
        with self.write_lock, self.engine.begin() as connection:
            yield connection

    def migrate(self) -> None:
        """Bring the database to the newest schema with alembic (`kpops_bot.migrations`), in one transaction.

        A database made before alembic (its version in `schema_info`) is stamped at the revision it equals, then
        upgraded in place; one that a newer kpops-bot migrated is refused.
        """
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", "kpops_bot:migrations")
        known = {revision.revision for revision in ScriptDirectory.from_config(config).walk_revisions()}
        with self.transaction() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None and sa.inspect(connection).has_table("schema_info"):
                version = connection.execute(sa.text("SELECT version FROM schema_info")).scalar()
                if version not in _LEGACY_REVISIONS:
                    msg = f"the database has schema version {version}, this kpops-bot knows {max(_LEGACY_REVISIONS)}"
                    raise SchemaTooNewError(msg)
                command.stamp(config, _LEGACY_REVISIONS[version])
            elif current is not None and current not in known:
                msg = f"the database has schema revision {current}, which this kpops-bot does not know (newer?)"
                raise SchemaTooNewError(msg)
            command.upgrade(config, "head")

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()


def database_started_at(connection: Connection) -> float | None:
    """When the database server last started (PostgreSQL); None when it has no such moment (SQLite, a file)."""
    if connection.dialect.name != "postgresql":
        return None
    started = connection.execute(sa.text("SELECT extract(epoch FROM pg_postmaster_start_time())")).scalar_one()
    return float(started)


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        # A server that does not answer fails a connection in seconds instead of the system's minutes of TCP
        # retries: the worker then retries its bookkeeping, and readiness says so.
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": _CONNECT_TIMEOUT})
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _configure(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Take the write lock at once: two deferred transactions that both upgrade to writing would deadlock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
