"""The built-in helm as a long-lived service, for render processes forked from the fork server.

helm-python-sdk runs Helm's Go SDK inside the Python process. Go's runtime does not survive `fork`: a forked
child that makes a network call hangs. So the library is loaded once, in this process, which is never forked,
and render processes send it their helm command lines over a Unix socket. A request carries the command line
and the caller's environment (helm's directories and chart mirrors are per render); the answer is what the
helm command line would have printed and returned.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kpops_bot.helm.outcome import Outcome

HELM_SOCKET_ENV = "KPOPS_BOT_HELM_SOCKET"
_MAX_MESSAGE = 64 * 1024 * 1024


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


def call(socket_path: str, argv: Sequence[str], env: dict[str, str]) -> Outcome:
    """Run a helm command line in the helm service."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        _send(connection, {"argv": list(argv), "env": env})
        answer = _receive(connection)
    return Outcome(returncode=answer["returncode"], stdout=answer["stdout"], stderr=answer["stderr"])


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        from kpops_bot.helm import frontend

        try:
            request = _receive(self.request)
        except (ConnectionError, ValueError):
            return
        outcome = frontend.run(request["argv"], request["env"])
        _send(self.request, {"returncode": outcome.returncode, "stdout": outcome.stdout, "stderr": outcome.stderr})


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(socket_path: str) -> None:
    """Serve until stdin closes: the parent owns this process and its lifetime."""
    import threading

    from kpops_bot.helm import frontend  # loads the Go library before the first request arrives

    frontend.run(["version"])
    with _Server(socket_path, _Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdin.read()
        server.shutdown()
    Path(socket_path).unlink(missing_ok=True)


def start(socket_path: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the helm service; it lives until its stdin is closed (or its parent dies)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kpops_bot.helm.service", socket_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        msg = "the built-in helm service did not start"
        raise RuntimeError(msg)
    return process


if __name__ == "__main__":
    os.umask(0o077)
    serve(sys.argv[1])
