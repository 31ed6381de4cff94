"""The channel between intake processes and the bot's process, both ends in one event loop on a real store."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from kpops_bot.jobs import NewJob, decode
from kpops_bot.metrics import DeliveryOutcome
from kpops_bot.server import intake_channel
from kpops_bot.server.intake import IntakeUnavailableError, LocalIntake
from kpops_bot.server.intake_channel import ChannelIntake, ChannelServer
from kpops_bot.server.intake_log import Answered, IntakeLog
from kpops_bot.store import JobState, Store
from tests.support.workflow_kit import queued


def _job(key: str) -> NewJob:
    return queued(key, "preview", "a" * 40, ("preview",))


async def _until(condition: Callable[[], bool], seconds: float = 60) -> None:
    """Poll `condition` until it holds or `seconds` (a bound generous enough for a busy machine) have passed."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def test_deliveries_and_answers_reach_the_bots_process_and_a_closed_channel_refuses_at_once(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    log = IntakeLog()
    woken: list[bool] = []
    closed: list[bool] = []

    async def scenario() -> None:
        server = ChannelServer(tmp_path / "intake.sock", LocalIntake(store, log, lambda: woken.append(True)))
        await server.start()
        assert (tmp_path / "intake.sock").stat().st_mode & 0o077 == 0  # only the bot's user connects
        intake = ChannelIntake(tmp_path / "intake.sock", on_closed=lambda: closed.append(True))
        await intake.connect()
        first, second, again = await asyncio.gather(
            intake.accept("github", "d-1", "pull_request", _job("pr-1")),
            intake.accept("github", "d-2", "pull_request", _job("pr-1")),
            intake.accept("github", "d-1", "pull_request", _job("pr-1")),
        )
        assert not first.duplicate and not second.duplicate
        assert again.duplicate and again.job_id == first.job_id
        intake.answered(Answered(time.time(), "github", "pull_request", "d-2", DeliveryOutcome.QUEUED, 2, ""))
        await _until(lambda: bool(log.newest_first()))
        await server.close()
        await _until(lambda: bool(closed))
        try:
            await intake.accept("github", "d-3", "pull_request", _job("pr-3"))
        except IntakeUnavailableError:
            pass
        else:
            raise AssertionError("a closed channel stored a delivery")
        await intake.close()

    try:
        asyncio.run(scenario())
        (entry,) = log.newest_first()
        assert (entry.delivery_id, entry.outcome, entry.job_id) == ("d-2", DeliveryOutcome.QUEUED, 2)
        assert woken == [True]  # the worker is woken for a queued job
        assert closed == [True]
        jobs = store.jobs()
        assert [(job.key, job.state, decode(job).payload) for job in jobs] == [
            ("pr-1", JobState.SUPERSEDED, _job("pr-1").payload),
            ("pr-1", JobState.QUEUED, _job("pr-1").payload),
        ]
        assert store.delivery_count() == 2
    finally:
        store.close()


def test_a_job_crosses_the_channel_whole() -> None:
    """Every field of a job an intake process hands over arrives: a merge's apply supersedes its pull request's
    previews, under the pull request's key (the channel once dropped that key)."""
    apply = queued("github:acme/deployments@main", "apply", "b" * 40, ("preview",), "github:acme/deployments#1")
    assert intake_channel._job(json.loads(json.dumps(intake_channel._job_fields(apply)))) == apply


def test_a_job_the_bots_process_cannot_read_is_answered_unavailable_and_the_channel_goes_on(tmp_path: Path) -> None:
    """An intake process of another version hands over a job of a kind this one does not know: the sender hears
    "unavailable" (the forge redelivers), nothing is stored, and the next delivery on the connection is stored."""
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    unknown = ["x", "rebase", {}, None, [], None]
    good = intake_channel._job_fields(_job("pr-1"))

    async def scenario() -> list[list[object]]:
        server = ChannelServer(tmp_path / "intake.sock", LocalIntake(store, IntakeLog()))
        await server.start()
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "intake.sock"))
        answers = []
        for request, job in ((1, unknown), (2, good)):
            writer.write(
                json.dumps(["accept", request, "github", f"d-{request}", "pull_request", job]).encode() + b"\n"
            )
            answers.append(json.loads(await asyncio.wait_for(reader.readline(), 60)))
        writer.close()
        await server.close()
        return answers

    try:
        assert asyncio.run(scenario()) == [["unavailable", 1], ["accepted", 2, 1, False]]
        assert [job.key for job in store.jobs()] == ["pr-1"] and store.delivery_count() == 1
    finally:
        store.close()
