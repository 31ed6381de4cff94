"""Templates of renders, run in worker processes within the render's own budget, never in the helm service.

A chart's templates are code (Go templates: `range`, `repeat`, `include` recursion) from the pull request, and
the helm service that runs them has the bot's rights and serves every render. Run inside the service, a nested
`range` kept a core busy after its render was killed, and a 400 MB `repeat` took the service to 3.1 GiB while the
render's own limit was 256 MiB. So every `helm template` of a render runs in a worker process within that render's
limits: its memory (RLIMIT_DATA, which counts the Go heap's mappings but not the address space the Go runtime
only reserves) and CPU time (RLIMIT_CPU), set before the worker reads anything of its first request; at most
`MAX_OUTPUT` bytes of manifests a template. While a template runs the service watches the render's connection
and kills the worker the moment it closes: a template ends when its render ends.

Starting a worker (Python, Helm's library) costs about as much CPU as rendering a small pipeline, so a worker
that answered is kept for the next template of the same limits, of any render: a template leaves nothing behind
that another could read (Helm loads the chart and values anew each call), and the limits are the same. A worker
is retired once it has used half its CPU time or half its memory limit (so the next template gets its whole
budget, near enough), and after `IDLE_SECONDS` unused. A few are started ahead (`SPARES`), waiting on their stdin;
a worker whose stdin closes (the service ended) exits. `bench/helm_template.py` prints what a template costs this
way against the old in-process call.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from kpops_bot.helm.outcome import CPU_EXCEEDED, MEMORY_EXCEEDED, Outcome

MAX_OUTPUT = 64 * 1024 * 1024  # manifests one `helm template` may print (the render's result has the same bound)
SPARES = 2  # workers started ahead: the renders that start at once on a small machine
IDLE_SECONDS = 30.0  # a worker with nothing to do this long ends
_WORKER_MEMORY_FLOOR = 384 * 1024 * 1024  # the Go runtime and Python need about 200 MiB to start
_OUT_OF_MEMORY = (b"out of memory", b"cannot allocate memory", b"MemoryError")
# Go's report of a fault inside its own runtime: a mapping the runtime asked for was refused (RLIMIT_DATA) and the
# runtime used it unchecked (Go 1.26's GC stores a failed `sysAlloc` of its span queue as a nil ring, then reads
# it). In a c-shared library Go forces GOTRACEBACK=crash and has no SIGQUIT handler, so after this report the
# worker dies of the SIGQUIT Go relays to its other threads: exit -3, without an "out of memory" line.
_GO_RUNTIME_FAULT = re.compile(rb"\ASIG(?:SEGV|BUS): .*\nPC=\S+ m=\d+ sigcode=[1-9]\d* .*\n\ngoroutine .*\nruntime\.")
_HEADER = 8


@dataclass(frozen=True)
class Budget:
    """The render's own limits, which its templates run within."""

    memory_bytes: int
    cpu_seconds: int

    @property
    def worker_memory(self) -> int:
        return max(self.memory_bytes, _WORKER_MEMORY_FLOOR)


def _read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None  # the service ended (or never needed this worker)
    return stream.read(int.from_bytes(header, "big"))


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(_HEADER, "big") + data


def _main() -> None:
    from kpops_bot.helm import frontend
    from kpops_bot.helm.service import Grant

    frontend.run(["version"])  # Helm's library loaded before a request arrives
    limited = False
    while (raw := _read_frame(sys.stdin.buffer)) is not None:
        request = json.loads(raw)
        if not limited:
            _limit(Budget(**request["budget"]))
            limited = True
        grant = Grant.from_fields(request["grant"])
        try:
            outcome = frontend.run(request["argv"], grant.env, grant.scope())
        except MemoryError:
            os._exit(MEMORY_EXCEEDED)
        if len(outcome.stdout) > MAX_OUTPUT:
            limit = MAX_OUTPUT // (1024 * 1024)
            message = f"Error: the chart's templates exceeded their limit of {limit} MiB\n"
            outcome = Outcome(returncode=1, stderr=message)
        answer = {"returncode": outcome.returncode, "stdout": outcome.stdout, "stderr": outcome.stderr}
        sys.stdout.buffer.write(_frame(json.dumps(answer).encode()))
        sys.stdout.buffer.flush()
    os._exit(0)  # nothing to flush; the interpreter's teardown would only cost time


def _limit(budget: Budget) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (budget.worker_memory, budget.worker_memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # Go's crash dumps core: the render's values stay unwritten
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + budget.cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    idle_since: float = field(default_factory=time.monotonic)

    def stderr_ends(self) -> bytes:
        """The first and last lines the worker wrote (Go's fatal error leads its goroutine dump; Python's ends it)."""
        self.stderr.seek(0)
        head = self.stderr.read(4096)
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - 4096))
        return head + self.stderr.read()

    def fresh(self, budget: Budget) -> bool:
        """Whether the next template would still get most of `budget` here."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return False
        cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        data = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmData:")), 0)
        return cpu_seconds < budget.cpu_seconds / 2 and data < budget.worker_memory / 2

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            if stream is not None:
                stream.close()


class WorkerPool:
    """Workers that answered, kept by the limits they took, and a few started ahead."""

    def __init__(self, env: dict[str, str], spares: int = SPARES) -> None:
        self._env = env
        self._spares_wanted = spares
        self._lock = threading.Lock()
        self._spares: list[_Worker] = []
        self._idle: dict[Budget, list[_Worker]] = {}
        self._closed = threading.Event()

    def start(self) -> None:
        self.start_spares()
        threading.Thread(target=self._reap, name="helm-worker-reaper", daemon=True).start()

    def start_spares(self) -> None:
        with self._lock:
            while len(self._spares) < self._spares_wanted and not self._closed.is_set():
                self._spares.append(self._launch())

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            workers = [*self._spares, *(worker for idle in self._idle.values() for worker in idle)]
            self._spares, self._idle = [], {}
        for worker in workers:
            worker.end()

    def run(self, argv: list[str], grant: dict[str, Any], budget: Budget, client: socket.socket) -> Outcome:
        """`argv` run in a worker within `budget`; ended early (the worker killed) when `client` closes its
        connection."""
        worker = self._take(budget)
        process = worker.process
        assert process.stdin is not None
        request = {"argv": argv, "grant": grant, "budget": dataclasses.asdict(budget)}
        kept = False
        try:
            try:
                process.stdin.write(_frame(json.dumps(request).encode()))
                process.stdin.flush()
            except OSError:  # the worker died before it read the request: why, its exit says
                answer, ended = b"", _Ended.ANSWERED
            else:
                answer, ended = _read_answer(process, client, budget)
            outcome = _outcome(worker, answer, ended, budget)
            if ended is _Ended.ANSWERED and answer:
                kept = self._keep(budget, worker)
            return outcome
        finally:
            if not kept:
                worker.end()

    def _take(self, budget: Budget) -> _Worker:
        with self._lock:
            idle = self._idle.get(budget)
            if idle:
                return idle.pop()
            spare = self._spares.pop(0) if self._spares else None
        threading.Thread(target=self.start_spares, daemon=True).start()
        return spare if spare is not None else self._launch()

    def _keep(self, budget: Budget, worker: _Worker) -> bool:
        if not worker.fresh(budget):
            return False
        worker.idle_since = time.monotonic()
        with self._lock:
            if self._closed.is_set():
                return False
            self._idle.setdefault(budget, []).append(worker)
            return True

    def _reap(self) -> None:
        while not self._closed.wait(1.0):
            now = time.monotonic()
            with self._lock:
                ended = [w for idle in self._idle.values() for w in idle if now - w.idle_since > IDLE_SECONDS]
                for idle in self._idle.values():
                    idle[:] = [worker for worker in idle if worker not in ended]
            for worker in ended:
                worker.end()

    def _launch(self) -> _Worker:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- the worker keeps it; read after it ended
        process = subprocess.Popen(
            [sys.executable, "-m", "kpops_bot.helm.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**self._env, "GOTRACEBACK": "single"},  # the report `_GO_RUNTIME_FAULT` reads, whatever the bot's
        )
        return _Worker(process, stderr)


class _Ended(enum.Enum):
    ANSWERED = "answered"  # the worker answered, or closed its output
    CLIENT_LEFT = "client left"
    TOO_LARGE = "too large"
    TIMED_OUT = "timed out"


def _read_answer(process: subprocess.Popen[bytes], client: socket.socket, budget: Budget) -> tuple[bytes, _Ended]:
    """The worker's answer (empty when it ended without one), and why reading it ended."""
    assert process.stdout is not None
    chunks = bytearray()
    # CPU time bounds the templates; the wall clock only catches a worker that waits (a pull that hangs).
    deadline = time.monotonic() + 2 * budget.cpu_seconds + 30
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "worker")
        selector.register(client, selectors.EVENT_READ, "client")
        while (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                if key.data == "client":
                    return b"", _Ended.CLIENT_LEFT  # the render ended: its templates end too
                chunk = os.read(process.stdout.fileno(), 1 << 20)
                if not chunk:
                    return b"", _Ended.ANSWERED
                chunks += chunk
                if len(chunks) >= _HEADER:
                    size = int.from_bytes(chunks[:_HEADER], "big")
                    if size > MAX_OUTPUT + (1 << 20):
                        return b"", _Ended.TOO_LARGE
                    if len(chunks) >= _HEADER + size:
                        return bytes(chunks[_HEADER : _HEADER + size]), _Ended.ANSWERED
    return b"", _Ended.TIMED_OUT


def _outcome(worker: _Worker, answer: bytes, ended: _Ended, budget: Budget) -> Outcome:
    if ended is _Ended.ANSWERED and answer:
        loaded = json.loads(answer)
        return Outcome(returncode=loaded["returncode"], stdout=loaded["stdout"], stderr=loaded["stderr"])
    if ended is _Ended.TOO_LARGE:
        limit = MAX_OUTPUT // (1024 * 1024)
        return Outcome(returncode=1, stderr=f"Error: the chart's templates exceeded their limit of {limit} MiB\n")
    code = worker.process.wait() if ended is _Ended.ANSWERED else worker.process.poll()
    if code == MEMORY_EXCEEDED or _ran_out_of_memory(worker.stderr_ends()):
        limit = budget.worker_memory // (1024 * 1024)
        message = f"Error: the chart's templates exceeded their memory limit of {limit} MiB\n"
        return Outcome(returncode=MEMORY_EXCEEDED, stderr=message)
    if ended is _Ended.TIMED_OUT or code in (-signal.SIGXCPU, -signal.SIGKILL):
        message = f"Error: the chart's templates exceeded their CPU time limit of {budget.cpu_seconds} s\n"
        return Outcome(returncode=CPU_EXCEEDED, stderr=message)
    return Outcome(returncode=1, stderr=f"Error: the built-in helm ended with {ended.value}, exit code {code}\n")


def _ran_out_of_memory(stderr: bytes) -> bool:
    """Whether the worker's last words say its memory ran out: Python's MemoryError, Go's fatal "out of memory"
    errors, or a fault in Go's runtime (which faults only on memory it was refused; see `_GO_RUNTIME_FAULT`)."""
    return any(sign in stderr for sign in _OUT_OF_MEMORY) or _GO_RUNTIME_FAULT.match(stderr) is not None


if __name__ == "__main__":
    os.umask(0o077)
    _main()
