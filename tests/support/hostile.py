"""The attacker's side of the sandbox tests: a repository with a hostile custom component, and what it aims at.

`fixtures/hostile-repo/` is laid over the deployment repository: a custom component that, when kpops imports it,
scans every process's environment for a secret, reads and writes the bot's files, connects to a loopback port,
starts a `setsid sleep` daemon and 300 processes and allocates 6 GiB (see its module). Its loot ends up in the
`hostile` pipeline's rendered configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpops_bot.model.render import PipelineRender
from testbed.repos import FIXTURES, GitRepo

HOSTILE_OVERLAY = FIXTURES / "hostile-repo"
TARGETS_FILE = "kpops/components/hostile/targets.json"
PLANTED = "planted-by-pull-request"


@dataclass
class Listener:
    """A loopback port the attack tries to reach; it records every connection."""

    port: int
    connections: list[bytes] = field(default_factory=list)


@contextmanager
def listening() -> Iterator[Listener]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    listener = Listener(server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    listener.connections.append(connection.recv(4096))
                except OSError:
                    listener.connections.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join()
        server.close()


@dataclass(frozen=True)
class Targets:
    secret: str
    read: list[Path]
    write: list[Path]
    port: int
    unix: list[Path] = field(default_factory=list)  # the bot's local sockets (the intake channel)
    sleep: str = field(default_factory=lambda: f"{4000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 997}")

    def to_json(self) -> str:
        return json.dumps(
            {
                "secret": self.secret,
                "read": [str(path) for path in self.read],
                "write": [str(path) for path in self.write],
                "port": self.port,
                "unix": [str(path) for path in self.unix],
                "sleep": self.sleep,
            }
        )


def make_hostile(repo: GitRepo, targets: Targets) -> str:
    """Lay the hostile component over `repo`, aimed at `targets`; the commit."""
    shutil.copytree(HOSTILE_OVERLAY, repo.path, dirs_exist_ok=True)
    repo.write(TARGETS_FILE, targets.to_json())
    return repo.commit("a custom component")


def loot(render: PipelineRender | dict[str, Any]) -> dict[str, Any]:
    """What the hostile component got, from its pipeline's rendered configuration."""
    document = render.model_dump(mode="json") if isinstance(render, PipelineRender) else render
    looter = next(component for component in document["components"] if component["name"] == "looter")
    found: dict[str, Any] = json.loads(looter["config"]["values"]["loot"])
    return found


def processes_with(marker: str) -> list[str]:
    """Command lines of the machine's processes that contain `marker`: one of the caller's own (a random argument it
    gave them), so that no other process of the machine matches."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in command:
            found.append(command.strip())
    return found


def planted_files(*folders: Path) -> list[Path]:
    """Files the attack planted below `folders` (walked without failing on files that vanish meanwhile)."""
    return [Path(root) / PLANTED for folder in folders for root, _, files in os.walk(folder) if PLANTED in files]


def python_readable_by_others() -> list[str]:
    """A command prefix under which the bot's Python environment is readable by other uids."""
    home = Path.home()
    python = Path(sys.executable).resolve()
    if not python.is_relative_to(home) or home.stat().st_mode & 0o005:
        return []
    inside = python.relative_to(home).parts[0]
    script = (
        'set -e; stash=$(mktemp -d); mount --bind "$1/$2" "$stash"; '
        'mount -t tmpfs -o mode=0755 tmpfs "$1"; mkdir "$1/$2"; mount --move "$stash" "$1/$2"; '
        'shift 2; exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(home), inside]
