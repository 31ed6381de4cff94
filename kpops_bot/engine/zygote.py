"""The fork server: imports kpops once, then forks one fresh process per render.

Importing kpops costs about half of a render. This process pays it once and never touches kpops' state, so
every forked child starts as clean as a new `kpops` process, only sooner. It never loads Helm's Go library
(Go does not survive fork); the helm service does that.

Protocol, one JSON object per line: stdin receives `{"id": N, "job": RenderJob}`; stdout answers
`{"id": N, "exit_code": int|null, "signal": int|null, "timed_out": bool}` when that child has ended. A child
past its timeout is killed with its whole process group. Closing stdin kills every child and ends the server.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from kpops_bot.engine.model import RenderJob


@dataclass
class _Child:
    request_id: int
    deadline: float
    timed_out: bool = False


def _preload() -> None:
    import kpops.api  # noqa: F401 -- the import is the point
    from kpops.core.registry import Registry

    Registry().discover_components()

    import kpops_bot.engine.child  # noqa: F401


def main() -> None:
    path_entry = str(Path.cwd())
    _preload()
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, _Child] = {}
    pending = b""
    stdin_open = True
    _emit({"ready": True})
    while stdin_open or children:
        readable = _wait([0, wakeup_read] if stdin_open else [wakeup_read], children)
        if wakeup_read in readable:
            os.read(wakeup_read, 4096)
        if 0 in readable:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                stdin_open = False
                _kill_all(children)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    _start(json.loads(line), children, path_entry)
        _expire(children)
        _reap(children)


def _wait(fds: list[int], children: dict[int, _Child]) -> list[int]:
    nearest = min((child.deadline for child in children.values()), default=None)
    timeout = None if nearest is None else max(0.0, nearest - time.monotonic())
    try:
        readable, _, _ = select.select(fds, [], [], timeout)
    except InterruptedError:
        return []
    return readable


def _start(request: dict[str, object], children: dict[int, _Child], path_entry: str) -> None:
    job = RenderJob.model_validate(request["job"])
    request_id = int(str(request["id"]))
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        from kpops_bot.engine import child

        child.run(job, path_entry)
    children[pid] = _Child(request_id, time.monotonic() + job.timeout)


def _expire(children: dict[int, _Child]) -> None:
    now = time.monotonic()
    for pid, child in children.items():
        if not child.timed_out and child.deadline <= now:
            child.timed_out = True
            _kill_group(pid)


def _kill_all(children: dict[int, _Child]) -> None:
    for pid in children:
        _kill_group(pid)


def _kill_group(pid: int) -> None:
    """Kill the child and whatever it started; before the child made its group, only the child exists."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return


def _reap(children: dict[int, _Child]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        child = children.pop(pid, None)
        if child is None:
            continue
        _emit(
            {
                "id": child.request_id,
                "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                "timed_out": child.timed_out,
            }
        )


def _emit(message: dict[str, object]) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


if __name__ == "__main__":
    main()
