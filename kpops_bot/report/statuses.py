"""The descriptions of the bot's commit statuses (the preview's and the apply's). Pure: plain data in, one line out.

A forge shows a status description as plain text and cuts it (GitHub at 140 characters, in the client): these are
short on purpose. The apply's final descriptions are also its record that a commit was applied (`APPLIED`,
`APPLY_FAILED`, `APPLY_FAILED_MERGE`), read back by the other trigger of the same commit: they never change.
"""

from __future__ import annotations

from collections.abc import Mapping

from kpops_bot.diff.model import Status
from kpops_bot.text import shorten

APPLYING = "Applying the changed pipelines"
APPLIED = "Applied"
APPLY_FAILED = "Apply failed"
APPLY_FAILED_MERGE = "Apply failed: see the pull request"
_REFUSED_BY_POLICY = "Refused by policy"  # a failure too: the policies at the commit deny it, nothing was applied
_LIMIT = 140  # GitHub's longest status description

RENDERING = "Rendering the pipelines this change affects"
FORK_NOT_PREVIEWED = "Not previewed: pull request from a fork"
NOTHING_AFFECTED = "No pipeline affected"
CLOSED_BEFORE_PREVIEW = "Not previewed: the pull request was closed"


def job_failed(job_id: int) -> str:
    """A job given up after its attempts: where to look."""
    return f"kpops-bot failed (job {job_id}); see the bot's log"


def no_preview(short: str) -> str:
    """The preview could not be made, in a few words (the sticky comment says why in full)."""
    return f"No preview: {short}"


def superseded(newer_head: str) -> str:
    return f"Superseded by {newer_head[:7]}"


def previewed(pipelines: Mapping[Status, int], failed: int, blocking: bool) -> str:
    """The preview's outcome: pipelines counted by status, and what fails it."""
    counts = ", ".join(f"{count} {status}" for status, count in pipelines.items() if count)
    if failed:
        return f"{failed} pipeline(s) failed to render ({counts})"
    if blocking:
        return f"Blocking risk found ({counts})"
    return f"Pipelines: {counts}"


def refused_by_policy(summary: str) -> str:
    """An apply the policies at its commit refused: the denials in short (the answer lists them)."""
    return shorten(f"{_REFUSED_BY_POLICY}: {summary}", _LIMIT, "…")


def is_refused_by_policy(description: str) -> bool:
    """Whether a status is an apply's refusal by policy, its record for the commit's other trigger."""
    return description.startswith(_REFUSED_BY_POLICY)


def unsandboxed(description: str) -> str:
    """Every status of a bot that renders without its sandbox says so."""
    return f"{description} (rendered without sandbox)"
