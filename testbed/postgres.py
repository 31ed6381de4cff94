"""A throwaway PostgreSQL server from the distribution's packages, on loopback, for the tests that need one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

_BIN_DIRS = [Path("/usr/lib/postgresql") / version / "bin" for version in ("17", "16", "15", "14", "13")]


def _binary(name: str) -> str | None:
    for folder in _BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def unavailable_reason() -> str | None:
    """Why no server can be started here, or None."""
    if _binary("initdb") is None or _binary("pg_ctl") is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A server in a folder of its own on a fixed loopback port, that a test can stop and start again (an outage)."""

    def __init__(self, root: Path) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError(unavailable_reason())
        self._pg_ctl = pg_ctl
        self._prefix: list[str] = []
        if os.geteuid() == 0:  # the server must not run as root: run it as the packages' postgres user
            shutil.chown(root, "postgres")
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self.root = root
        self._data = root / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://bot@127.0.0.1:{self.port}/postgres"
        subprocess.run(
            [*self._prefix, initdb, "-D", str(self._data), "-U", "bot", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"
        options += " -c fsync=off"
        command = [*self._prefix, self._pg_ctl, "-D", str(self._data), "-o", options, "-l", str(self.root / "log")]
        subprocess.run([*command, "-w", "start"], check=True, capture_output=True)

    def stop(self) -> None:
        """As a crash or a pulled plug: every connection is cut at once."""
        command = [*self._prefix, self._pg_ctl, "-D", str(self._data), "-m", "immediate", "-w", "stop"]
        subprocess.run(command, check=False, capture_output=True)


@contextmanager
def stoppable_postgres() -> Iterator[PostgresServer]:
    """Start a server in a temporary folder; yields it (stop and start it at will); removes it afterwards."""
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="kpops-bot-pg-")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server in a temporary folder; yields its SQLAlchemy URL; stops and removes it afterwards."""
    with stoppable_postgres() as server:
        yield server.url


def fresh_database(server_url: str) -> str:
    """A new empty database on the server at `server_url` (a test's own, beside other tests'); its URL."""
    name = f"t{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
