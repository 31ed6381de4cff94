"""The bot's process keeps its intake processes running (`intake_processes`; see `server.intake_process`).

Each gets the listening socket and the settings (through a pipe). One that ends is started again, at most once a
few seconds per place so a process that cannot start does not spin; all are stopped with the bot.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)
_RESTART_AFTER = 2.0
_STOP_WAIT = 10.0


def run_folder() -> Path:
    """The folder of the bot's local sockets (intake channel, forwarded app): short enough for a socket's path,
    only the bot's user may enter it (0700), and renders never see it (their `/tmp` is their own, or the folder
    is closed to their uid)."""
    return Path(tempfile.mkdtemp(prefix="kpops-bot-"))


class IntakeProcesses:
    def __init__(self, count: int, listener: socket.socket, run_dir: Path, settings: bytes) -> None:
        self._count = count
        self._listener = listener
        self._run_dir = run_dir
        self._settings = settings
        self._running: list[tuple[subprocess.Popen[bytes], float]] = []
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._running = [(self._start_one(), time.monotonic()) for _ in range(self._count)]
        self._watcher = threading.Thread(target=self._watch, name="intake-processes", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        for process, _ in self._running:
            process.terminate()
        for process, _ in self._running:
            try:
                process.wait(_STOP_WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _start_one(self) -> subprocess.Popen[bytes]:
        fd = self._listener.fileno()
        command = [sys.executable, "-m", "kpops_bot.server.intake_process", "--listen-fd", str(fd)]
        # A session of its own: a terminal's Ctrl-C reaches the bot's process alone, which stops them in order.
        process = subprocess.Popen(
            [*command, "--run-dir", str(self._run_dir)], stdin=subprocess.PIPE, pass_fds=(fd,), start_new_session=True
        )
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError), process.stdin:  # one that died at once is started again
            process.stdin.write(self._settings)
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for place, (process, started) in enumerate(self._running):
                if process.poll() is None or time.monotonic() - started < _RESTART_AFTER:
                    continue
                logger.warning(
                    "intake process %d ended (exit code %s); starting another", process.pid, process.returncode
                )
                self._running[place] = (self._start_one(), time.monotonic())
