"""Whose fault a failure is: the job's own (final, answered where the people wait) or the bot's surroundings'.

A database that restarts, a full data disk, a forge or git remote answering 5xx or not at all: these pass, and the
work that met them is not wrong. A workflow raises `TransientFault` for them; the worker retries the job with
backoff and does not spend one of its attempts on it, so an outage of any length ends with the work done once,
never with "Nothing was applied". A job's own failure (a pipeline that does not render, a refused path, a forbidden
command) is answered and final.
"""

from __future__ import annotations

from enum import StrEnum


class FaultKind(StrEnum):
    """What passed by: named in logs, metrics and the job's outcome, so an operator sees which fault it was."""

    STORE = "store"  # the database cannot be read or written
    DISK = "disk"  # the bot's data disk is full
    FORGE = "forge"  # the forge's API answered 5xx, 429 or not at all
    GIT = "git"  # the git remote answered 5xx or not at all
    OTHER = "other"


class TransientFault(Exception):
    """A fault of the surroundings, not of the job: retry later, do not count the attempt."""

    def __init__(self, kind: FaultKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
