"""A Docker daemon for the tests that test sessions running at once share without stopping it under each other.

A session that found no daemon used to start `dockerd` and stop it when its image tests were done; a second session
(another checkout's suite on the same machine) that had found that daemon answering lost it in the middle of its
own `docker run`: Docker stops a container with SIGTERM when the daemon stops, and `docker run` answered 143.

Here every session holds a shared lock on `users.lock` while it uses Docker. One that finds no daemon starts one
(under `start.lock`, so that two do not start two) and writes its pid to `dockerd.pid`. A session that leaves stops
that daemon only if it can take `users.lock` exclusively, i.e. no other session uses it; otherwise the last one to
leave does. A daemon the machine runs by itself (no `dockerd.pid`) is never stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

FOLDER = Path(tempfile.gettempdir()) / "kpops-bot-tests-docker"
START_SECONDS = 120  # dockerd starts in seconds; on a busy machine it may take a minute
STOP_SECONDS = 120  # it stops every container it still runs first (10 s each before SIGKILL)


def answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def shared_daemon(folder: Path = FOLDER) -> Iterator[None]:
    """A Docker daemon answering for as long as the block runs, started if none runs, stopped by its last user."""
    folder.mkdir(mode=0o700, exist_ok=True)
    with (folder / "users.lock").open("a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)  # before looking: a leaving session cannot stop the daemon after this
        try:
            with _locked(folder / "start.lock"):
                if not answers():
                    _start(folder)
            yield
        finally:
            with _locked(folder / "start.lock"):
                if _last_user(users):
                    _stop_the_started(folder)
                fcntl.flock(users, fcntl.LOCK_UN)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _last_user(users: IO[str]) -> bool:
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)  # converts this session's shared lock
    except BlockingIOError:
        return False
    return True


def _start(folder: Path) -> None:
    with (folder / "dockerd.log").open("a") as log:
        # A session of its own: the daemon outlives this test session while another one still uses it.
        daemon = subprocess.Popen(
            ["dockerd", "--iptables=false", "--bridge=none"], stdout=log, stderr=log, start_new_session=True
        )
    (folder / "dockerd.pid").write_text(str(daemon.pid))
    deadline = time.monotonic() + START_SECONDS
    while not answers():
        if daemon.poll() is not None or time.monotonic() > deadline:
            log_tail = (folder / "dockerd.log").read_text(errors="replace")[-3000:]
            msg = f"dockerd did not start within {START_SECONDS} s: {log_tail}"
            raise RuntimeError(msg)
        time.sleep(0.5)


def _stop_the_started(folder: Path) -> None:
    pid_file = folder / "dockerd.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    if _is_dockerd(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while _is_dockerd(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    if not _is_dockerd(pid):  # else the next session to leave tries again
        pid_file.unlink()


def _is_dockerd(pid: int) -> bool:
    """Whether `pid` is a running dockerd (not a zombie, not a process that took its pid since)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z" and Path(command.decode(errors="replace")).name == "dockerd"
