"""One render's `helm template`, run in a process of its own within that render's budget.

A chart's templates are code (Go templates: `range`, `repeat`, `include` recursion) from the pull request, and
the helm service that runs them has the bot's rights and serves every render. Run inside the service, a nested
`range` kept a core busy after its render was killed, and a 400 MB `repeat` took the service to 3.1 GiB while the
render's own limit was 256 MiB. So each `helm template` of a render runs in a fresh worker process that the
service starts: it takes the render's memory limit (RLIMIT_DATA, which counts the Go heap's mappings but not the
address space the Go runtime only reserves) and CPU time (RLIMIT_CPU) before it reads anything of the request,
writes at most `MAX_OUTPUT` bytes of manifests, and is killed by the service when the render ends (its
connection closes). It ends after one command, so nothing a template did outlives it.

Loading Helm's library takes most of a second, so the service keeps one worker started ahead, waiting on its
stdin (`WorkerPool`); a worker whose stdin closes (the service ended) exits.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from kpops_bot.helm.outcome import CPU_EXCEEDED, MEMORY_EXCEEDED, Outcome

MAX_OUTPUT = 64 * 1024 * 1024  # manifests one `helm template` may print (the render's result has the same bound)
_WORKER_MEMORY_FLOOR = 384 * 1024 * 1024  # the Go runtime and Python need about 200 MiB to start
_OUT_OF_MEMORY = (b"out of memory", b"cannot allocate memory", b"MemoryError")


@dataclass(frozen=True)
class Budget:
    """The render's own limits, which its templates run within."""

    memory_bytes: int
    cpu_seconds: int

    @property
    def worker_memory(self) -> int:
        return max(self.memory_bytes, _WORKER_MEMORY_FLOOR)


def _main() -> None:
    from kpops_bot.helm import frontend
    from kpops_bot.helm.service import Grant

    frontend.run(["version"])  # Helm's library loaded before a request arrives
    raw = sys.stdin.buffer.read()
    if not raw:
        return  # the service ended before it needed this worker
    request = json.loads(raw)
    budget = Budget(**request["budget"])
    resource.setrlimit(resource.RLIMIT_DATA, (budget.worker_memory, budget.worker_memory))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + budget.cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    grant = Grant.from_fields(request["grant"])
    try:
        outcome = frontend.run(request["argv"], grant.env, grant.scope())
    except MemoryError:
        os._exit(MEMORY_EXCEEDED)
    if len(outcome.stdout) > MAX_OUTPUT:
        limit = MAX_OUTPUT // (1024 * 1024)
        outcome = Outcome(returncode=1, stderr=f"Error: the chart's templates exceeded their limit of {limit} MiB\n")
    answer = json.dumps({"returncode": outcome.returncode, "stdout": outcome.stdout, "stderr": outcome.stderr})
    sys.stdout.write(answer)
    sys.stdout.flush()
    os._exit(0)  # nothing to flush; the interpreter's teardown would only cost time


class WorkerPool:
    """Starts template workers, one kept ahead; runs a render's command in one and watches that render's connection."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._lock = threading.Lock()
        self._spare: _Worker | None = None

    def start_spare(self) -> None:
        with self._lock:
            if self._spare is None:
                self._spare = self._launch()

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.end()

    def _launch(self) -> _Worker:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- the worker keeps it; read after it ended
        process = subprocess.Popen(
            [sys.executable, "-m", "kpops_bot.helm.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=self._env,
        )
        return _Worker(process, stderr)

    def _take(self) -> _Worker:
        with self._lock:
            worker, self._spare = self._spare, None
        threading.Thread(target=self.start_spare, daemon=True).start()
        return worker if worker is not None else self._launch()

    def run(self, argv: list[str], grant: dict[str, Any], budget: Budget, client: socket.socket) -> Outcome:
        """`argv` run in a worker within `budget`; ended early (and killed) when `client` closes its connection."""
        worker = self._take()
        process = worker.process
        assert process.stdin is not None
        request = {"argv": argv, "grant": grant, "budget": dataclasses.asdict(budget)}
        try:
            process.stdin.write(json.dumps(request).encode())
            process.stdin.close()
            answer, ended = _read_answer(process, client, budget)
            if ended is _Ended.ANSWERED:
                process.wait()
            return _outcome(worker, answer, ended, budget)
        finally:
            worker.end()


@dataclass(frozen=True)
class _Worker:
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]

    def stderr_ends(self) -> bytes:
        """The first and last lines the worker wrote (Go's fatal error leads its goroutine dump; Python's ends it)."""
        self.stderr.seek(0)
        head = self.stderr.read(4096)
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - 4096))
        return head + self.stderr.read()

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            if stream is not None:
                stream.close()


class _Ended(enum.Enum):
    ANSWERED = "answered"  # the worker closed its output
    CLIENT_LEFT = "client left"
    TOO_LARGE = "too large"
    TIMED_OUT = "timed out"


def _read_answer(worker: subprocess.Popen[bytes], client: socket.socket, budget: Budget) -> tuple[bytes, _Ended]:
    """What the worker wrote, and why reading it ended."""
    assert worker.stdout is not None
    chunks = bytearray()
    # CPU time bounds the templates; the wall clock only catches a worker that waits (a pull that hangs).
    deadline = time.monotonic() + 2 * budget.cpu_seconds + 30
    with selectors.DefaultSelector() as selector:
        selector.register(worker.stdout, selectors.EVENT_READ, "worker")
        selector.register(client, selectors.EVENT_READ, "client")
        while (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                if key.data == "client":
                    return bytes(chunks), _Ended.CLIENT_LEFT  # the render ended: its templates end too
                chunk = os.read(worker.stdout.fileno(), 1 << 20)
                if not chunk:
                    return bytes(chunks), _Ended.ANSWERED
                chunks += chunk
                if len(chunks) > MAX_OUTPUT + (1 << 20):
                    return b"", _Ended.TOO_LARGE
    return b"", _Ended.TIMED_OUT


def _outcome(worker: _Worker, answer: bytes, ended: _Ended, budget: Budget) -> Outcome:
    if ended is _Ended.ANSWERED and answer:
        loaded = json.loads(answer)
        return Outcome(returncode=loaded["returncode"], stdout=loaded["stdout"], stderr=loaded["stderr"])
    if ended is _Ended.TOO_LARGE:
        limit = MAX_OUTPUT // (1024 * 1024)
        return Outcome(returncode=1, stderr=f"Error: the chart's templates exceeded their limit of {limit} MiB\n")
    code = worker.process.returncode
    if code == MEMORY_EXCEEDED or any(sign in worker.stderr_ends() for sign in _OUT_OF_MEMORY):
        limit = budget.worker_memory // (1024 * 1024)
        message = f"Error: the chart's templates exceeded their memory limit of {limit} MiB\n"
        return Outcome(returncode=MEMORY_EXCEEDED, stderr=message)
    if ended is _Ended.TIMED_OUT or code in (-signal.SIGXCPU, -signal.SIGKILL):
        message = f"Error: the chart's templates exceeded their CPU time limit of {budget.cpu_seconds} s\n"
        return Outcome(returncode=CPU_EXCEEDED, stderr=message)
    return Outcome(returncode=1, stderr=f"Error: the built-in helm ended with {ended.value}, exit code {code}\n")


if __name__ == "__main__":
    os.umask(0o077)
    _main()
