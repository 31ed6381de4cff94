"""How a template worker's end is told: a worker whose memory ran out says so, however Go's runtime died of it.

Under RLIMIT_DATA, Go 1.26's GC stores a refused mapping of its span queue as a nil ring and faults on it; in a
c-shared library Go then relays SIGQUIT to its threads and the worker dies of it (exit -3) with a fault report
and no "out of memory" line. `fixtures/helm/go-runtime-fault-out-of-memory.txt` is that report as a worker wrote
it (a memory bomb with a 384 MiB limit, on a machine at load 11). The workers here are real processes that leave
such a report and die of the signal Go sends.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kpops_bot.helm.outcome import MEMORY_EXCEEDED
from kpops_bot.helm.worker import Budget, _Ended, _outcome, _Worker

REPORT = Path(__file__).parents[3] / "fixtures" / "helm" / "go-runtime-fault-out-of-memory.txt"
BUDGET = Budget(memory_bytes=256 * 1024 * 1024, cpu_seconds=30)


def dead_worker(report: bytes, sig: signal.Signals) -> _Worker:
    """A process that writes `report` to its stderr and dies of `sig`, as Go's crash relay ends a worker."""
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- the worker owns it; end() closes it
    # The signal's default action first: a shell's background job inherits SIGQUIT ignored.
    script = (
        "import os, signal, sys; sys.stderr.buffer.write(sys.stdin.buffer.read()); sys.stderr.flush();"
        " signal.signal(int(sys.argv[1]), signal.SIG_DFL); os.kill(os.getpid(), int(sys.argv[1]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(int(sig))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
    )
    assert process.stdin is not None
    process.stdin.write(report)
    process.stdin.close()
    process.stdin = None
    return _Worker(process, stderr)


@pytest.mark.subprocess  # each worker is a fresh interpreter
def test_a_worker_whose_go_runtime_faulted_on_memory_it_was_refused_exceeded_its_memory() -> None:
    worker = dead_worker(REPORT.read_bytes(), signal.SIGQUIT)
    try:
        outcome = _outcome(worker, b"", _Ended.ANSWERED, BUDGET)
    finally:
        worker.end()
    assert worker.process.returncode == -signal.SIGQUIT
    assert outcome.returncode == MEMORY_EXCEEDED
    assert outcome.stderr == "Error: the chart's templates exceeded their memory limit of 384 MiB\n"


@pytest.mark.subprocess  # each worker is a fresh interpreter
def test_a_fault_outside_gos_runtime_is_not_taken_for_memory() -> None:
    # The same report, but the fault in helm's own code, or a SIGSEGV someone sent (sigcode 0): nothing says
    # memory ran out, so the worker's end is told as it was.
    report = REPORT.read_bytes()
    elsewhere = report.replace(b"\nruntime.(*spanQueue).tryDrain", b"\ntext/template.(*state).walk", 1)
    sent = report.replace(b"sigcode=1", b"sigcode=0", 1)
    for text in (elsewhere, sent):
        worker = dead_worker(text, signal.SIGQUIT)
        try:
            outcome = _outcome(worker, b"", _Ended.ANSWERED, BUDGET)
        finally:
            worker.end()
        assert outcome.returncode == 1
        assert outcome.stderr == "Error: the built-in helm ended with answered, exit code -3\n"
