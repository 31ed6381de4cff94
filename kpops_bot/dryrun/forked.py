"""Work on many items on both cores: a fork of this process, which has everything loaded already, takes a share.

The diff stage of a wide change with every render cached is pure Python work on hundreds of pipelines, one after
the other on one core. A forked child starts with the renders, the caches and the imports in place, so nothing
is sent to it; it sends back its results, pickled. Only for many items (a fork and the results' way back cost a
few milliseconds) and with a second CPU. A child that fails, dies or answers late (a lock another thread held at
the fork, a busy machine) changes nothing but the time: its share is worked out here, as without a child, so an
error is raised where it would have been. The child never returns into the caller's code: it ends with
`os._exit`, running no cleanup of the parent's (atexit, buffered output, temporary folders).

Written here rather than with `multiprocessing`: its pools start workers and send them the items pickled, which
costs more than the diffs they would take over; a bare fork inherits the items, and only the fallback on a late or
failed child (the point of this module) is ours.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

MINIMUM_ITEMS = 48  # fewer are done at once here: a fork and unpickling would cost more than they save
_FAILED = b"failed"
# How long the child may take beyond this process's own share: a loaded machine gives the two unequal turns.
_GRACE = 2.0


def forked_map(work: Callable[[_Item], _Result], items: Sequence[_Item], minimum: int = MINIMUM_ITEMS) -> list[_Result]:
    """`[work(item) for item in items]`, the second half in a forked child when it pays (see the module)."""
    if len(items) < minimum or _cpus() < 2 or not hasattr(os, "fork"):
        return [work(item) for item in items]
    middle = len(items) // 2
    mine, theirs = items[:middle], items[middle:]
    reading, writing = os.pipe()
    try:
        child = os.fork()
    except OSError:  # no memory or process left for a fork: all of it here
        os.close(reading)
        os.close(writing)
        return [work(item) for item in items]
    if child == 0:  # pragma: no cover -- the child's coverage is not collected; the tests check its results
        os.close(reading)
        _serve(work, theirs, writing)
    os.close(writing)
    started = time.monotonic()
    try:
        results = [work(item) for item in mine]
    except BaseException:
        _collect(child, reading, deadline=0)  # stopped and reaped
        raise
    payload = _collect(child, reading, time.monotonic() + (time.monotonic() - started) * 1.5 + _GRACE)
    answer = _unpickled(payload)
    if answer is None or len(answer) != len(theirs):
        return [*results, *(work(item) for item in theirs)]
    return [*results, *answer]


def _cpus() -> int:
    """The CPUs this process may run on (a container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _unpickled(payload: bytes | None) -> list[Any] | None:
    """The child's results (pickled by our own fork); None for none or a truncated answer (it died writing)."""
    if not payload:
        return None
    try:
        results = pickle.loads(payload)
    except Exception:
        return None
    return results if isinstance(results, list) else None


def _serve(work: Callable[[_Item], _Result], items: Sequence[_Item], writing: int) -> None:
    """In the child: the results, pickled, down the pipe; then out, whatever happened."""
    try:
        try:
            payload = pickle.dumps([work(item) for item in items], protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # the parent works the share out again and meets the error itself
            payload = _FAILED
        # Its length first: the answer's end is known without waiting for EOF, which a fork made by another
        # thread meanwhile (holding a copy of this pipe's end) would hold back.
        view = memoryview(len(payload).to_bytes(8, "big") + payload)
        while view:
            view = view[os.write(writing, view) :]
    finally:
        os._exit(0)


def _collect(child: int, reading: int, deadline: float) -> bytes | None:
    """What the child sent, or None when it failed or was not done by `deadline` (then it is killed); reaped."""
    received = bytearray()
    length: int | None = None
    poll = select.poll()  # not select(): a busy process's pipe may be numbered past its 1,024 descriptors
    poll.register(reading, select.POLLIN)
    try:
        while length is None or len(received) < length + 8:
            left = deadline - time.monotonic()
            if left <= 0 or not poll.poll(left * 1000):
                return None
            chunk = os.read(reading, 1 << 20)
            if not chunk:  # it died before it said all
                return None
            received += chunk
            if length is None and len(received) >= 8:
                length = int.from_bytes(received[:8], "big")
    finally:
        os.close(reading)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)  # done (it only has to exit) or late: either way it goes now
        os.waitpid(child, 0)
    payload = bytes(received[8:])
    return None if payload == _FAILED else payload
