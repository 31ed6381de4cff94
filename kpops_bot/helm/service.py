"""The built-in helm as a long-lived service, for render processes forked from the fork server.

helm-python-sdk runs Helm's Go SDK inside the Python process. Go's runtime does not survive `fork`: a forked
child that makes a network call hangs. So the library is loaded once, in this process, which is never forked,
and render processes send it their helm command lines over a Unix socket. A request carries the command line
and the render's grant; the answer is what the helm command line would have printed and returned.

The service runs with the bot's rights, outside the sandbox, so it trusts nothing a render says about itself. The
pool signs each render's grant (HMAC with a key only the pool and the service hold): helm's directories and chart
mirrors for that render, which live where no render can reach, and the folders whose files its command lines may
name (`confinement`), the chart repositories it may add, and its own limits, which its templates run within (each
`helm template` in a worker process of its own, see `worker`). A request without a valid grant is refused.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import socket
import socketserver
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from kpops_bot.helm.confinement import ReadableFolders
from kpops_bot.helm.outcome import Outcome
from kpops_bot.helm.repositories import AllowedRepositories
from kpops_bot.helm.worker import Budget, WorkerPool

if TYPE_CHECKING:
    from kpops_bot.helm.frontend import RenderScope

HELM_SOCKET_ENV = "KPOPS_BOT_HELM_SOCKET"
HELM_GRANT_ENV = "KPOPS_BOT_HELM_GRANT"
_KEY_ENV = "KPOPS_BOT_HELM_KEY"
_SOCKET_FD_ENV = "KPOPS_BOT_HELM_SOCKET_FD"  # the listening socket the pool made, inherited by the service
_MAX_MESSAGE = 64 * 1024 * 1024


class InvalidGrantError(Exception):
    """A grant that was not signed by the pool (or was altered)."""


@dataclass(frozen=True)
class Grant:
    """What one render may have the helm service do: its helm environment and the folders it may name."""

    env: dict[str, str]
    files: list[str]
    charts: list[str]
    cwd: str
    repositories: list[str] = field(default_factory=list)  # URLs `helm repo add` may name (beside kpops' own)
    memory_bytes: int = 2048 * 1024 * 1024  # the render's limits, which its templates run within
    cpu_seconds: int = 300

    def sign(self, key: bytes) -> str:
        body = json.dumps(self.fields(), sort_keys=True).encode()
        mac = hmac.new(key, body, hashlib.sha256).hexdigest()
        return f"{mac}.{base64.urlsafe_b64encode(body).decode()}"

    def fields(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Grant:
        return cls(**fields)

    @classmethod
    def verify(cls, token: str, key: bytes) -> Grant:
        mac, _, encoded = token.partition(".")
        try:
            body = base64.urlsafe_b64decode(encoded.encode())
        except ValueError as error:
            raise InvalidGrantError("malformed grant") from error
        if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).hexdigest()):
            raise InvalidGrantError("grant not signed by this pool")
        return cls.from_fields(json.loads(body))

    def scope(self) -> RenderScope:
        from kpops_bot.helm.frontend import RenderScope
        from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors

        mirrors = ChartMirrors.from_json(self.env.get(MIRRORS_ENV, ""))
        return RenderScope(
            readable=ReadableFolders.of(self.files, self.charts, self.cwd),
            repositories=AllowedRepositories.of(self.repositories, list(mirrors.mapping.values())),
        )

    def budget(self) -> Budget:
        return Budget(memory_bytes=self.memory_bytes, cpu_seconds=self.cpu_seconds)


def new_key() -> bytes:
    return secrets.token_bytes(32)


def _send(connection: socket.socket, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    connection.sendall(len(data).to_bytes(8, "big") + data)


def _receive(connection: socket.socket) -> dict[str, Any]:
    header = _read_exactly(connection, 8)
    size = int.from_bytes(header, "big")
    if size > _MAX_MESSAGE:
        msg = f"helm service message of {size} bytes is over the limit"
        raise ConnectionError(msg)
    loaded: dict[str, Any] = json.loads(_read_exactly(connection, size))
    return loaded


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = connection.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            msg = "helm service closed the connection"
            raise ConnectionError(msg)
        chunks += chunk
    return bytes(chunks)


def call(socket_path: str, argv: Sequence[str], grant: str) -> Outcome:
    """Run a helm command line in the helm service, under the caller's grant."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        _send(connection, {"argv": list(argv), "grant": grant})
        answer = _receive(connection)
    return Outcome(returncode=answer["returncode"], stdout=answer["stdout"], stderr=answer["stderr"])


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        from kpops_bot.helm import frontend

        try:
            request = _receive(self.request)
            grant = Grant.verify(str(request.get("grant", "")), self.server.key)
            argv = [str(arg) for arg in request["argv"]]
        except (ConnectionError, ValueError, KeyError, TypeError, InvalidGrantError) as error:
            outcome = Outcome(returncode=1, stderr=f"Error: kpops-bot helm service refused the request: {error}\n")
        else:
            if _command(argv) == "template":
                outcome = self.server.workers.run(argv, grant.fields(), grant.budget(), self.request)
            else:
                outcome = frontend.run(argv, grant.env, grant.scope())
        with contextlib.suppress(OSError):  # the render ended meanwhile: nobody to answer
            _send(self.request, {"returncode": outcome.returncode, "stdout": outcome.stdout, "stderr": outcome.stderr})


def _command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    key: bytes
    workers: WorkerPool


def serve(socket_path: str) -> NoReturn:
    """Serve until stdin closes: the parent owns this process and its lifetime, and made its listening socket."""
    import threading

    from kpops_bot.helm import frontend  # loads the Go library before the first request arrives

    frontend.run(["version"])
    with _Server(socket_path, _Handler, bind_and_activate=False) as server:
        server.socket.close()
        server.socket = socket.socket(fileno=int(os.environ.pop(_SOCKET_FD_ENV)))
        server.key = bytes.fromhex(os.environ.pop(_KEY_ENV))
        server.workers = WorkerPool(dict(os.environ))
        server.workers.start()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdin.read()
        server.workers.close()
    Path(socket_path).unlink(missing_ok=True)
    # Not `server.shutdown()` and a normal exit: that waits for the serving loop's next poll (up to half a second)
    # and the interpreter's teardown, and the pool's close waits for this process. Nothing is left to flush.
    os._exit(0)


def start(socket_path: str, env: dict[str, str], key: bytes) -> subprocess.Popen[str]:
    """Start the helm service and wait until it serves; it lives until its stdin is closed (or its parent dies)."""
    return wait_ready(launch(socket_path, env, key))


def launch(socket_path: str, env: dict[str, str], key: bytes) -> subprocess.Popen[str]:
    """Start the helm service without waiting for it to load Helm's library (`wait_ready` does).

    The socket listens when this returns (made here, handed to the service), so it can be bound into a sandbox
    at once and a render that connects early waits in its backlog. The service's working directory and HOME are
    the socket's folder: Helm's library keeps caches there.
    """
    folder = str(Path(socket_path).parent)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:
        listening.bind(socket_path)
        Path(socket_path).chmod(0o666)  # renders may run as other uids; the grant, not the socket, is the check
        listening.listen(socketserver.UnixStreamServer.request_queue_size)
        return subprocess.Popen(
            [sys.executable, "-m", "kpops_bot.helm.service", socket_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=folder,
            env={"HOME": folder, **env, _KEY_ENV: key.hex(), _SOCKET_FD_ENV: str(listening.fileno())},
            pass_fds=[listening.fileno()],
        )


def wait_ready(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
    """`process` once it serves; raises when it ended instead."""
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        process.wait()
        msg = "the built-in helm service did not start"
        raise RuntimeError(msg)
    return process


if __name__ == "__main__":
    os.umask(0o077)
    serve(sys.argv[1])
