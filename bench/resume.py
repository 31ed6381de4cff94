"""How fast work resumes after a crash: seconds from SIGKILL of the replica running a job to the job's next claim.

    .venv/bin/python bench/resume.py [--database-url URL] [--baseline-lease 120]

Each replica is a process running the bot's `Worker` on one store (SQLite by default, PostgreSQL with
`--database-url`) with the settings' defaults (heartbeat every 2 s, a replica silent for 10 s is dead, polls every
0.5 s); its job handler records the claim and then hangs, so the replica is killed mid-job. Three cases, one run:
- restart: the killed replica is started again (same `replica_id`); it takes its job back at once. Target 5 s.
- takeover: another replica was idle beside it; it takes the job once the dead one stops beating. Target 15 s.
- baseline: as before heartbeats, another replica waits for the job's lease (the default 120 s) to expire.
The ratios say how much sooner work resumes than with the lease alone. Process start time is included.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kpops_bot.events.model import Forge
from kpops_bot.jobs import DriftCheck, JobKind
from kpops_bot.settings import BotSettings
from kpops_bot.store import Job, JobState, NewJob, Store, jobs
from kpops_bot.worker import Worker, WorkerOptions

TARGETS = {"restart": 5.0, "takeover": 15.0}


class _Hang:
    """Records each claim (job, attempt, when) in `log`, then hangs until the process is killed."""

    def __init__(self, log: Path) -> None:
        self._log = log

    def run(self, job: Job) -> str:
        with self._log.open("a") as log:
            log.write(json.dumps({"job": job.id, "attempt": job.attempts, "at": time.time()}) + "\n")
        time.sleep(3600)
        return "done"

    def give_up(self, job: Job, error: BaseException) -> None:
        """Nothing to tell: the benchmark counts claims."""


def replica(url: str, replica_id: str, log: Path, lease: float, dead_after: float) -> None:
    defaults = BotSettings()
    options = WorkerOptions(
        concurrency=1,
        lease_seconds=lease,
        poll_interval=defaults.poll_interval,
        replica_id=replica_id,
        heartbeat_seconds=defaults.heartbeat_seconds,
        dead_after=dead_after,
    )
    Worker(Store(url), {JobKind.DRIFT: _Hang(log)}, options).start()
    time.sleep(3600)


def _start(url: str, replica_id: str, log: Path, lease: float, dead_after: float) -> subprocess.Popen[bytes]:
    arguments = [url, replica_id, str(log), str(lease), str(dead_after)]
    return subprocess.Popen([sys.executable, __file__, "--replica", *arguments])


def _claims(log: Path, job_id: int) -> list[dict[str, float]]:
    if not log.exists():
        return []
    claims = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [claim for claim in claims if claim["job"] == job_id]


def _wait_claim(log: Path, job_id: int, count: int, timeout: float) -> dict[str, float]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        claims = _claims(log, job_id)
        if len(claims) >= count:
            return claims[count - 1]
        time.sleep(0.02)
    msg = f"no claim number {count} within {timeout} s"
    raise SystemExit(msg)


def case(name: str, url: str, work: Path, lease: float, dead_after: float) -> float:
    """Seconds from the kill to the next claim of the job, in one of the three cases."""
    store = Store(url)
    store.migrate()
    check = DriftCheck(Forge.GITHUB, "acme/deployments", "main")  # never read: the bench's worker only hangs
    job_id = store.enqueue(NewJob(f"bench-{name}-{time.time()}", JobKind.DRIFT, check))
    log = work / f"{name}.log"
    first = _start(url, f"{name}-a", log, lease, dead_after)
    standby = None
    if name != "restart":
        _wait_claim(log, job_id, 1, 60)
        standby = _start(url, f"{name}-b", log, lease, dead_after)
        time.sleep(2)  # the standby is up and polling before the kill
    _wait_claim(log, job_id, 1, 60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = time.time()
    again = _start(url, f"{name}-a", log, lease, dead_after) if name == "restart" else standby
    assert again is not None
    try:
        claim = _wait_claim(log, job_id, 2, lease + 60)
    finally:
        again.kill()
        again.wait()
        with store.transaction() as connection:  # no case's job is left for the next case's replicas
            connection.execute(jobs.update().values(state=JobState.DONE.value))
        store.close()
    return claim["at"] - killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL URL; default: SQLite in a temporary folder")
    parser.add_argument("--baseline-lease", type=float, default=BotSettings().lease_seconds)
    parser.add_argument("--replica", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        url, replica_id, log, lease, dead_after = args.replica
        replica(url, replica_id, Path(log), float(lease), float(dead_after))
        return
    defaults = BotSettings()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        url = args.database_url or f"sqlite:///{work / 'bench.db'}"
        lease, timeout = defaults.lease_seconds, defaults.replica_timeout
        figures = {
            "restart": case("restart", url, work, lease, timeout),
            "takeover": case("takeover", url, work, lease, timeout),
            "baseline": case("baseline", url, work, args.baseline_lease, 1e9),  # no heartbeat takeover
        }
    base = figures["baseline"]
    print(f"database: {url.split(':', 1)[0]}; baseline: the lease of {args.baseline_lease:.0f} s")
    for name, seconds in figures.items():
        target = f", target {TARGETS[name]:.0f} s" if name in TARGETS else ""
        ratio = base / seconds
        print(f"{name:9} {seconds:6.2f} s from kill to the next claim ({ratio:5.1f}x sooner than the lease){target}")


if __name__ == "__main__":
    main()
