"""`kpops-bot playground --keep` as a newcomer starts it: a process of its own (its own process group, stopped whole
whatever happens to the test), on known free loopback ports, its printed lines read as they come."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

KPOPS_BOT = Path(sys.executable).parent / "kpops-bot"
START_SECONDS = 180  # the bot's start on a busy machine (migrations, sandbox probe)
READY = "Ready."  # the playground's last line once everything is up


def three_free_ports() -> int:
    """A port whose next two are free on 127.0.0.1 as well (the playground's bot, GitHub stand-in, charts)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
        if port + 2 > 65535:
            continue
        try:
            for candidate in (port, port + 1, port + 2):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no three consecutive free ports")


class Lines:
    """A process's stdout, line by line, read in a thread so that a wait can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def until(self, text: str, timeout: float) -> None:
        while True:
            line = self._queue.get(timeout=timeout)
            if line is None:
                raise AssertionError("the playground ended early:\n" + "".join(self.seen))
            self.seen.append(line)
            if line.strip() == text:
                return

    def rest(self, timeout: float) -> str:
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


@contextmanager
def kept_playground(command: Sequence[str]) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """The playground started with `command` (a `--keep` one), once it said `Ready.`; killed whole afterwards."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stopped whole, whatever happens to the test
    )
    try:
        lines = Lines(process)
        lines.until(READY, START_SECONDS)
        yield process, lines
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
