"""The local channel between intake processes and the bot's process: deliveries to store, answers given.

One UNIX stream socket in a folder only the bot's user can open; each intake process keeps one connection. A
message is one JSON array per line:

- `["accept", id, forge, delivery_id, event, job]` (job: the `NewJob`'s fields, or null); the bot's process stores
  it through its group commit and answers `["accepted", id, job_id, duplicate]` or `["unavailable", id]`;
- `["answered", at, forge, event, delivery_id, outcome, job_id, reason]`, no answer.

Hand-written because it is a few lines over asyncio streams: a message queue or RPC library would bring a broker,
a schema compiler or threads for two message kinds between processes of one program on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpops_bot.jobs import JobKind, NewJob, decode_payload, encode_json
from kpops_bot.metrics import DeliveryOutcome
from kpops_bot.server.intake import IntakeUnavailableError, LocalIntake
from kpops_bot.server.intake_log import Answered
from kpops_bot.store import Accepted

logger = logging.getLogger(__name__)
_LINE_LIMIT = 64 * 1024 * 1024  # a job carries the parsed event, far below the largest body the bot takes


def _job_fields(job: NewJob | None) -> list[Any] | None:
    if job is None:
        return None
    return [job.key, job.kind, encode_json(job.payload), job.head_sha, list(job.supersedes), job.supersedes_key]


def _job(fields: list[Any] | None) -> NewJob | None:
    """The job an intake process handed over; both ends are the same kpops-bot, so it reads."""
    if fields is None:
        return None
    key, kind, payload, head_sha, supersedes, supersedes_key = fields
    job_kind, typed = decode_payload(kind, payload)
    return NewJob(key, job_kind, typed, head_sha, tuple(JobKind(each) for each in supersedes), supersedes_key)


def _line(message: list[Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class ChannelServer:
    """In the bot's process: takes the intake processes' connections and serves them with `local`."""

    def __init__(self, path: Path, local: LocalIntake) -> None:
        self._path = path
        self._local = local
        self._server: asyncio.AbstractServer | None = None
        self._storing: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self._path), limit=_LINE_LIMIT)
        self._path.chmod(0o600)

    async def close(self) -> None:
        """Stop taking connections, answer what is being stored, then close: an intake process still running
        hears that the bot's process is going and ends."""
        if self._server is not None:
            self._server.close()
        if self._storing:
            await asyncio.gather(*self._storing, return_exceptions=True)
        for writer in self._connections:
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while line := await reader.readline():
                message = json.loads(line)
                if message[0] == "accept":
                    task = asyncio.create_task(self._accept(writer, message))
                    self._storing.add(task)
                    task.add_done_callback(self._storing.discard)
                else:
                    at, forge, event, delivery_id, outcome, job_id, reason = message[1:]
                    self._local.answered(
                        Answered(at, forge, event, delivery_id, DeliveryOutcome(outcome), job_id, reason)
                    )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the intake process ended; what it handed over is being stored all the same
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _accept(self, writer: asyncio.StreamWriter, message: list[Any]) -> None:
        _, request, forge, delivery_id, event, job = message
        try:
            accepted = await self._local.accept(forge, delivery_id, event, _job(job))
        except IntakeUnavailableError:
            answer = ["unavailable", request]
        except (TypeError, ValueError) as error:  # a job this process cannot read: an intake of another version?
            logger.error("an intake process handed over a job that cannot be read: %s", error)
            answer = ["unavailable", request]
        else:
            answer = ["accepted", request, accepted.job_id, accepted.duplicate]
        if not writer.is_closing():
            writer.write(_line(answer))


class ChannelIntake:
    """In an intake process: the `Intake` whose store and records are the bot's process at the other end."""

    def __init__(self, path: Path, on_closed: Callable[[], None]) -> None:
        self._path = path
        self._on_closed = on_closed
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: dict[int, asyncio.Future[Accepted]] = {}
        self._next = 0
        self._reading: asyncio.Task[None] | None = None
        self._open = False

    async def connect(self) -> None:
        reader, self._writer = await asyncio.open_unix_connection(str(self._path), limit=_LINE_LIMIT)
        self._open = True
        self._reading = asyncio.create_task(self._read(reader))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading

    async def accept(self, forge: str, delivery_id: str, event: str, job: NewJob | None) -> Accepted:
        if not self._open or self._writer is None:
            raise IntakeUnavailableError
        self._next += 1
        waiting: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = waiting
        self._writer.write(_line(["accept", self._next, forge, delivery_id, event, _job_fields(job)]))
        return await waiting

    def answered(self, answered: Answered) -> None:
        if not self._open or self._writer is None:
            return  # the bot's process is gone; this process is ending too
        fields = [answered.at, answered.forge, answered.event, answered.delivery_id, answered.outcome.value]
        self._writer.write(_line(["answered", *fields, answered.job_id, answered.reason]))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                kind, request, *rest = json.loads(line)
                waiting = self._waiting.pop(request, None)
                if waiting is None or waiting.done():
                    continue
                if kind == "accepted":
                    waiting.set_result(Accepted(job_id=rest[0], duplicate=rest[1]))
                else:
                    waiting.set_exception(IntakeUnavailableError())
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._open = False
            for waiting in self._waiting.values():
                if not waiting.done():
                    waiting.set_exception(IntakeUnavailableError())
            self._waiting.clear()
            logger.info("the bot's process closed the intake channel")
            self._on_closed()
