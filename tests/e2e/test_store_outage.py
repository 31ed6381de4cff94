"""The store going away while jobs run, and coming back: nothing is lost, nothing runs twice, no restart is needed.

Two `kpops-bot serve` replicas on one PostgreSQL, the server stopped (as a crash) for 3 s and for 20 s while both
replicas are in the middle of a job; and one bot on SQLite whose data disk (a size-limited tmpfs) fills up and is
freed. Meanwhile `/readyz` says not ready, a delivery gets a JSON 503, and afterwards every job finishes once, with
one report per pull request, the workers alive in the same processes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kpops_bot import metrics
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.report.identity import is_part
from kpops_bot.store import JobState, Store
from testbed.harness import Deliveries, bot_on_remote, running_replicas, wait_for
from testbed.postgres import PostgresServer, fresh_database, stoppable_postgres, unavailable_reason
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
NEW_COMMENT = r"/issues/\d+/comments$"


class Readiness:
    """Asks a bot's `/readyz` every 0.1 s from a thread of its own; keeps what it answered, and when."""

    def __init__(self, url: str) -> None:
        self._url = f"{url}/readyz"
        self.answers: list[tuple[float, int]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Readiness:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._thread.join()

    def _poll(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stopping.wait(0.1):
                try:
                    status = client.get(self._url).status_code
                except httpx.HTTPError:
                    status = 0  # no answer at all: not ready either, but not what the bot says
                self.answers.append((time.monotonic(), status))

    def between(self, start: float, end: float) -> set[int]:
        return {status for at, status in self.answers if start <= at <= end}

    def ready_after(self, moment: float) -> bool:
        return any(status == 200 for at, status in self.answers if at > moment)


def _branch(repo: GitRepo, number: int) -> str:
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", f"pr-{number}", "origin/main")
    repo.replace(WORD_COUNT, "partitions_count: 3", f"partitions_count: {3 + number}")
    head = repo.commit(f"partitions of word-count for {number}")
    repo.git("push", "-q", "origin", f"pr-{number}")
    return head


def _reports(deliveries: Deliveries, number: int) -> list[str]:
    return [body for body in deliveries.bot_comments(number) if is_part(body)]


def _all_done(store: Store) -> bool:
    return {job.state for job in store.jobs()} == {JobState.DONE}


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with stoppable_postgres() as server:
        yield server


@pytest.mark.postgres  # its own stoppable server: the fixture's name does not tell conftest
@pytest.mark.parametrize("outage", [3, 20])
def test_two_replicas_ride_out_a_stopped_postgresql_and_run_every_job_once(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, postgres: PostgresServer, outage: int
) -> None:
    url = fresh_database(postgres.url)
    # replica_timeout (3 s) is shorter than the outage: a replica must not take the other's jobs after it
    with running_replicas(Forge.GITHUB, engine_settings, tmp_path, deployment_repo, url) as running:
        forge, replicas, senders = running.forge, running.bots, running.senders
        pids = [bot.process.pid for bot in replicas if bot.process is not None]
        store = Store(url)
        try:
            heads = {number: _branch(deployment_repo, number) for number in (1, 2)}
            forge.faults.late[NEW_COMMENT] = 120  # reports stored, their answers held: both replicas mid-job
            for number, head in heads.items():
                forge.pulls.open(number, head, head_ref=f"pr-{number}")
                senders[number % 2].send_pull_request("opened", number, head, head_ref=f"pr-{number}")
            wait_for("both reports stored", lambda: all(_reports(senders[0], number) for number in heads))
            with Readiness(replicas[0].url) as ready_a, Readiness(replicas[1].url) as ready_b:
                stopped_at = time.monotonic()
                postgres.stop()
                forge.faults.late.clear()  # the jobs go on and meet the stopped database when they record their end
                forge.pulls.open(3, heads[1], head_ref="pr-1")
                refused = senders[0].send_pull_request("opened", 3, heads[1], head_ref="pr-1", delivery="in-outage")
                time.sleep(outage)  # the outage itself: nothing to await
                started_at = time.monotonic()
                postgres.start()
                for readiness in (ready_a, ready_b):
                    assert 503 in readiness.between(stopped_at, started_at)
                    wait_for("ready again", lambda r=readiness: r.ready_after(started_at), 60)
            assert (refused.status_code, refused.headers["content-type"]) == (503, "application/json")
            again = senders[0].send_pull_request("opened", 3, heads[1], head_ref="pr-1", delivery="in-outage")
            assert again.json()["status"] == "queued"

            for number, head in [*heads.items(), (3, heads[1])]:
                assert senders[0].final_status(head) == "success"
                wait_for(f"the report of {number}", lambda n=number: _reports(senders[0], n))
            wait_for("every job done", lambda: _all_done(store), 120)
            for number in (1, 2, 3):
                assert len(_reports(senders[0], number)) == 1
            jobs = store.jobs()
            assert len(jobs) == 3
            assert all(job.counted == 1 for job in jobs)  # no attempt spent on the outage, none taken over
            assert [bot.process.pid if bot.process else None for bot in replicas] == pids
            assert all(bot.process is not None and bot.process.poll() is None for bot in replicas)
        finally:
            store.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted for this test alone: the bot's data disk, which the test fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs as the data disk needs root")
    mount = tmp_path / "bot-data"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mount)],
        check=False,
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def _fill(disk: Path) -> Path:
    """A ballast file that takes every byte left on `disk`; the database's log emptied first, so that its next
    write needs space (SQLite reuses a log's space otherwise)."""
    with contextlib.closing(sqlite3.connect(disk / "kpops-bot.db")) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ballast = disk / "ballast"
    with ballast.open("wb", buffering=0) as file:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    file.write(b"\0" * size)
    probe = disk / "probe"
    with pytest.raises(OSError) as full, probe.open("wb", buffering=0) as file:
        file.write(b"\0")
    assert full.value.errno == errno.ENOSPC
    return ballast


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_sqlite_on_a_full_disk_loses_nothing_and_finishes_every_job_once_when_space_is_back(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, small_disk: Path
) -> None:
    with bot_on_remote(Forge.GITHUB, engine_settings, tmp_path, deployment_repo, heartbeat_seconds=0.5) as bot:
        assert bot.bot.settings.data_dir == small_disk
        heads = {number: _branch(deployment_repo, number) for number in (1, 2)}
        bot.forge.faults.late[NEW_COMMENT] = 120  # reports stored, their answers held: both workers mid-job
        for number, head in heads.items():
            bot.forge.pulls.open(number, head, head_ref=f"pr-{number}")
            bot.send_pull_request("opened", number, head, head_ref=f"pr-{number}")
        wait_for("both reports stored", lambda: all(_reports(bot, number) for number in heads))
        failed_finishes = _sample("kpops_bot_store_errors_total", operation="finish")
        with Readiness(bot.url) as readiness:
            full_at = time.monotonic()
            ballast = _fill(small_disk)
            bot.forge.faults.late.clear()  # the jobs go on and meet the full disk when they record their end
            wait_for(
                "a finish refused",
                lambda: _sample("kpops_bot_store_errors_total", operation="finish") > failed_finishes,
            )
            wait_for("not ready", lambda: 503 in readiness.between(full_at, time.monotonic()), 30)
            bot.forge.pulls.open(3, heads[1], head_ref="pr-1")
            refused = bot.send_pull_request("opened", 3, heads[1], head_ref="pr-1", delivery="on-full-disk")
            assert (refused.status_code, refused.headers["content-type"]) == (503, "application/json")
            ballast.unlink()
            freed_at = time.monotonic()
            wait_for("ready again", lambda: readiness.ready_after(freed_at), 60)
        assert bot.send_pull_request("opened", 3, heads[1], head_ref="pr-1", delivery="on-full-disk").status_code == 202
        for head in heads.values():
            assert bot.final_status(head) == "success"
        store = bot.bot.services.store
        wait_for("every job done", lambda: _all_done(store), 120)
        for number in (1, 2, 3):
            assert len(_reports(bot, number)) == 1
        assert all(job.counted == 1 for job in store.jobs())
        assert bot.bot.worker.health().working == 2
