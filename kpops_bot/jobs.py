"""The jobs the bot queues: their kinds, the typed payload each kind carries, and how a stored job is read.

A job is written by routing (a delivery), the drift clock or a lock's line, kept by the store as text, and read back
once, by the worker (`decode`), which hands each workflow the payload type that workflow declares: a workflow never
parses JSON or asserts a type. A stored job this bot cannot read (a kind it does not know, a payload that does not
parse) is an `UnreadableJobError`, which the worker turns into a failed job with the reason, never a dead worker.

Payloads are stored in the shape the bot always wrote: an event as `{"type", "event"}` (`events.codec`), a drift
check as its three fields. A command's payload is the comment and, after a lock wait, the head its first run was
bound to; the bot before typed jobs smuggled that flag and head into the event's object (`"resumed"`, `"head"`),
and rows queued in that shape still load. Work with one key runs one job at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from kpops_bot.events.codec import dump_event, load_event
from kpops_bot.events.model import CommentEvent, Forge, PullRequestEvent, PushEvent, Repository


class JobKind(StrEnum):
    PREVIEW = "preview"  # diff a pull request's head into the sticky comment
    CLOSE = "close"  # closed (or merged with apply off): report outdated, locks released
    COMMAND = "command"  # `/kpops ...` comment
    APPLY = "apply"  # merged pull request or push to a deploy branch
    DRIFT = "drift"  # compare a deploy branch's render with its GitOps target


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a newer delivery made it pointless before it ran


def repository_key(repository: Repository) -> str:
    """How locks name a repository: `forge:full/name`."""
    return f"{repository.forge.value}:{repository.full_name}"


def pull_request_key(event: PullRequestEvent | CommentEvent) -> str:
    """Work for one pull request runs one job at a time."""
    return f"{repository_key(event.repository)}#{event.number}"


def branch_key(repository: Repository, branch: str) -> str:
    """Work for one branch (pushes applied) runs one job at a time."""
    return f"{repository_key(repository)}@{branch}"


@dataclass(frozen=True)
class CommandRequest:
    """A comment's commands to run: the comment, and whether it runs again after waiting in a lock's line."""

    comment: CommentEvent
    resumed: bool = False  # its first run waited for a lock (and answered so); this run is the one after the wait
    head: str | None = None  # a resumed comment: the head its first run was bound to, which it keeps


@dataclass(frozen=True)
class DriftCheck:
    """What a drift job checks: one branch of one repository."""

    forge: Forge
    full_name: str
    branch: str

    def job(self) -> NewJob:
        # The branch's key: a check never runs while an apply of the same branch does; a queued check is enough.
        repository = Repository(self.forge, self.full_name, clone_url="")
        return NewJob(branch_key(repository, self.branch), JobKind.DRIFT, self, supersedes=(JobKind.DRIFT,))


JobPayload = PullRequestEvent | PushEvent | CommandRequest | DriftCheck
"""What a job carries: per kind, one of the types in `CARRIES`."""

CARRIES: dict[JobKind, tuple[type[JobPayload], ...]] = {
    JobKind.PREVIEW: (PullRequestEvent,),
    JobKind.CLOSE: (PullRequestEvent,),
    JobKind.APPLY: (PullRequestEvent, PushEvent),  # a merge, or a push to a deploy branch
    JobKind.COMMAND: (CommandRequest,),
    JobKind.DRIFT: (DriftCheck,),
}

P = TypeVar("P")


class UnreadableJobError(ValueError):
    """A stored job this bot cannot read: its kind is unknown, or its payload is not what the kind carries."""


@dataclass(frozen=True)
class NewJob:
    key: str  # work with one key runs one at a time (a pull request, a branch)
    kind: JobKind
    payload: JobPayload
    head_sha: str | None = None
    supersedes: Sequence[JobKind] = ()  # kinds of queued jobs with the same key this one makes pointless
    supersedes_key: str | None = None  # whose queued jobs it makes pointless, where not its own key's

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", JobKind(self.kind))  # the kind's value, as a caller may name it
        object.__setattr__(self, "supersedes", tuple(JobKind(kind) for kind in self.supersedes))
        if not isinstance(self.payload, CARRIES[self.kind]):
            msg = f"a {self.kind} job carries {_names(self.kind)}, not {type(self.payload).__name__}"
            raise TypeError(msg)

    @property
    def superseded_key(self) -> str:
        """The key whose queued jobs of the `supersedes` kinds this one makes pointless."""
        return self.supersedes_key or self.key

    @property
    def superseded(self) -> list[tuple[str, JobKind]]:
        """The supersede rule: the (key, kind) of the queued jobs this one makes pointless."""
        return [(self.superseded_key, kind) for kind in self.supersedes]


@dataclass(frozen=True)
class _Record:
    """What the store keeps of a job besides its kind and payload."""

    id: int
    key: str
    head_sha: str | None
    state: JobState
    attempts: int  # tries: each claim counts one
    lease_owner: str | None
    outcome: str | None
    replica_id: str | None = None  # the replica running it
    spared: int = 0  # tries that were not the job's fault: transient faults, a process dying with its store gone

    @property
    def counted(self) -> int:
        """The tries spent against `max_attempts`."""
        return self.attempts - self.spared


@dataclass(frozen=True, kw_only=True)
class StoredJob(_Record):
    """A job as the store keeps it: its kind and payload as written, read by `decode`."""

    kind: str
    payload: str  # JSON


@dataclass(frozen=True, kw_only=True)
class Job(_Record, Generic[P]):
    """A job read: the payload typed as its kind carries it (`CARRIES`); a workflow declares which it takes."""

    kind: JobKind
    payload: P


def encode(payload: JobPayload) -> str:
    """The payload as the store keeps it (JSON text)."""
    return json.dumps(encode_json(payload))


def encode_json(payload: JobPayload) -> dict[str, Any]:
    if isinstance(payload, CommandRequest):
        return {"type": "command", **_COMMAND.dump_python(payload, mode="json")}
    if isinstance(payload, DriftCheck):
        return dict(_DRIFT.dump_python(payload, mode="json"))
    return dump_event(payload)


def decode_payload(kind: str, data: Any) -> tuple[JobKind, JobPayload]:
    """The kind and typed payload of a stored job (from its JSON); raises `UnreadableJobError` saying why not."""
    try:
        job_kind = JobKind(kind)
    except ValueError:
        raise UnreadableJobError(f"unknown job kind {kind!r}") from None
    try:
        payload = _read(job_kind, data)
    except (KeyError, TypeError, ValueError) as error:
        raise UnreadableJobError(f"the payload of a {kind} job cannot be read: {_described(error)}") from error
    if not isinstance(payload, CARRIES[job_kind]):
        msg = f"a {kind} job carries {_names(job_kind)}, its payload is a {type(payload).__name__}"
        raise UnreadableJobError(msg)
    return job_kind, payload


def decode(stored: StoredJob) -> Job[JobPayload]:
    """The job typed, read once; raises `UnreadableJobError`."""
    try:
        data = json.loads(stored.payload)
    except ValueError as error:
        raise UnreadableJobError(f"the payload of a {stored.kind} job is not JSON: {error}") from error
    kind, payload = decode_payload(stored.kind, data)
    return Job(
        id=stored.id,
        key=stored.key,
        head_sha=stored.head_sha,
        state=stored.state,
        attempts=stored.attempts,
        lease_owner=stored.lease_owner,
        outcome=stored.outcome,
        replica_id=stored.replica_id,
        spared=stored.spared,
        kind=kind,
        payload=payload,
    )


_COMMAND: TypeAdapter[CommandRequest] = TypeAdapter(CommandRequest)
_DRIFT: TypeAdapter[DriftCheck] = TypeAdapter(DriftCheck)
_OLD_COMMAND = "comment"  # the `type` of a command's payload before typed jobs: the comment event's own


def _read(kind: JobKind, data: Any) -> JobPayload:
    if not isinstance(data, dict):
        raise TypeError("the payload is not a JSON object")
    if kind is JobKind.DRIFT:
        return _DRIFT.validate_python(data)
    if kind is not JobKind.COMMAND:
        event = load_event(data)
        if isinstance(event, CommentEvent):
            raise TypeError("a comment runs commands only")
        return event
    if data.get("type") == _OLD_COMMAND:  # queued before typed jobs: the flag and head beside the event
        comment = load_event(data)
        if not isinstance(comment, CommentEvent):
            raise TypeError(f"a {type(comment).__name__} is no comment")
        head = data.get("head")
        return CommandRequest(
            comment, resumed=data.get("resumed") is True, head=head if isinstance(head, str) else None
        )
    return _COMMAND.validate_python({key: value for key, value in data.items() if key != "type"})


def _names(kind: JobKind) -> str:
    return " or ".join(carried.__name__ for carried in CARRIES[kind])


def _described(error: Exception) -> str:
    """What is wrong, in one line: pydantic's first complaint with its field's path."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(part) for part in first['loc']) or 'the payload'}: {first['msg']}"
    return f"{type(error).__name__}: {error}"
