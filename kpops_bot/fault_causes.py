"""Which failure a workflow met is the surroundings' (transient), read from its causes: one reading for every job.

A workflow's errors arrive wrapped: a `WorkspaceError` or `PublishError` around git's own error, a `ForgeError`
that its client marked transient or not (each forge client owns its limits), an `OSError` from a full disk
anywhere, the store's driver error. Whether the work is wrong or the bot's surroundings failed is in the innermost
cause: git's stderr (a 5xx, a host it could not resolve or reach, a timeout, a full disk), the forge client's
verdict after its own retries (5xx, 429, a rate limit, no answer), errno 28, a database that cannot be reached.
Those become `TransientFault`: the worker retries the job later without spending one of its attempts, and nothing
final is answered. Everything else (a render error, a refused path, a 401 or 404, an unknown pipeline) is the
job's own and answered as it is.

A fault's message starts with what happened, in words an operator acts on ("the bot's disk is full", "the git
remote answered 502"); after ": " comes the wrapped error's own (safe) message.
"""

from __future__ import annotations

import errno
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import git
import requests
import sqlalchemy.exc

from kpops_bot.faults import FaultKind, TransientFault
from kpops_bot.model.forge import ForgeError
from kpops_bot.workspace import redact_url

try:  # the PostgreSQL driver is an extra
    import psycopg

    _POSTGRES_FAULTS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover - installed wherever PostgreSQL is used
    _POSTGRES_FAULTS = ()

DISK_FULL = "the bot's disk is full"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_GIT_DISK_FULL = re.compile(r"No space left on device|Disk quota exceeded", re.IGNORECASE)
# What git (through curl) says when the remote answered 5xx or 429, or could not be reached at all. A 401, 403 or
# 404 ("Authentication failed", "Repository not found") and a refused push are the job's own.
_GIT_STATUS = re.compile(r"(?:returned error:|RPC failed; HTTP) (5\d\d|429)\b")
_GIT_UNREACHABLE = re.compile(
    r"Could not resolve (?:host|proxy)|Failed to connect|Couldn't connect|Connection refused|Connection reset"
    r"|Connection timed out|Operation timed out|timed out after|Operation too slow|Empty reply from server"
    r"|SSL_read: .*(?:eof|reset)|gnutls_handshake\(\) failed|Recv failure|was not closed cleanly",
    re.IGNORECASE,
)
# SQLite's operational errors that pass (the file busy, unreadable for a moment, the disk full); the others
# ("no such table", syntax) are the bot's own bugs and must not be retried for ever.
_SQLITE_PASSING = re.compile(r"locked|busy|disk|unable to open|I/O error", re.IGNORECASE)


def transient_fault(error: BaseException) -> TransientFault | None:
    """The `TransientFault` that `error` (or an error it was raised from) is; None when it is the job's own."""
    for cause in _chain(error):
        if isinstance(cause, TransientFault):
            return cause if cause is error else TransientFault(cause.kind, str(cause))
        if isinstance(cause, ForgeError) and not cause.transient:  # the client judged it by the limits it owns
            return None
        found = _forge_summary(cause) if isinstance(cause, ForgeError) else _summary(cause)
        if found is not None:
            kind, what = found
            return TransientFault(kind, f"{what}: {_detail(error)}")
    return None


def raise_if_transient(error: BaseException) -> None:
    """Raise the `TransientFault` that `error` is (from `error`); return when it is the job's own."""
    fault = transient_fault(error)
    if fault is error:
        raise fault
    if fault is not None:
        raise fault from error


@contextmanager
def transient_faults() -> Iterator[None]:
    """Around a job's work: every error that is the surroundings' leaves as its `TransientFault`."""
    try:
        yield
    except TransientFault:
        raise
    except Exception as error:
        raise_if_transient(error)
        raise


def git_text_fault(text: str) -> tuple[FaultKind, str] | None:
    """Git's (or curl's) words for a transient failure, as kind and summary; None for any other text."""
    if _GIT_DISK_FULL.search(text):
        return FaultKind.DISK, DISK_FULL
    status = _GIT_STATUS.search(text)
    if status is not None:
        return FaultKind.GIT, f"the git remote answered {status.group(1)}"
    if _GIT_UNREACHABLE.search(text):
        return FaultKind.GIT, "the git remote could not be reached"
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it was raised from (or, without `from`, what it was raised while handling)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _summary(error: BaseException) -> tuple[FaultKind, str] | None:
    if isinstance(error, git.GitCommandError):
        return git_text_fault(f"{error.stderr}\n{error.stdout}")
    if isinstance(error, requests.ConnectionError | requests.Timeout):  # before OSError, which they subclass
        return FaultKind.FORGE, "the forge could not be reached"
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return FaultKind.DISK, DISK_FULL
    return _store_summary(error)


def _store_summary(error: BaseException) -> tuple[FaultKind, str] | None:
    if isinstance(error, sqlite3.OperationalError) and _SQLITE_PASSING.search(str(error)):
        if "full" in str(error):  # "database or disk is full"
            return FaultKind.DISK, DISK_FULL
        return FaultKind.STORE, "the bot's database is unavailable"
    if isinstance(error, _POSTGRES_FAULTS):
        return FaultKind.STORE, "the bot's database is unavailable"
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return FaultKind.STORE, "the bot's database is unavailable"
    if isinstance(error, sqlalchemy.exc.TimeoutError):  # no connection free in the pool
        return FaultKind.STORE, "the bot's database is unavailable"
    return None


def _forge_summary(error: ForgeError) -> tuple[FaultKind, str]:
    """A forge call its client gave up on as transient (5xx, 429, a rate limit, no answer)."""
    if error.status == 403:
        return FaultKind.FORGE, "the forge's rate limit is reached"
    if error.status is not None:
        return FaultKind.FORGE, f"the forge answered {error.status}"
    return FaultKind.FORGE, "the forge could not be reached"


def _detail(error: BaseException) -> str:
    """The outermost error's first line, without credentials (wrapping errors say which call and what failed)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return redact_url(lines[0] if lines else type(error).__name__)
