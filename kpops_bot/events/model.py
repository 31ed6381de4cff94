"""What the bot reacts to, independent of the forge that sent it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Forge(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"


class PullRequestAction(StrEnum):
    OPENED = "opened"
    REOPENED = "reopened"
    UPDATED = "updated"  # new commits on the head branch
    READY = "ready"  # a draft marked ready for review
    CLOSED = "closed"  # closed without merge
    MERGED = "merged"


_LARGEST_ID = 2**63


class MalformedEventError(ValueError):
    """The payload lacks a field every delivery of this event has: the sender gets a 400 with this message."""


@dataclass(frozen=True)
class Repository:
    forge: Forge
    full_name: str  # owner/name on GitHub, group/subgroup/project on GitLab
    # The configured forge's URL, set by the intake: a delivery's own URLs are never used.
    clone_url: str = ""
    project_id: int | None = None  # GitLab's numeric id, where the delivery carries it


@dataclass(frozen=True)
class PullRequestEvent:
    delivery: str
    repository: Repository
    number: int  # GitHub number, GitLab iid
    action: PullRequestAction
    base_ref: str
    head_sha: str
    from_fork: bool
    merge_commit_sha: str | None = None
    # What the policies may know of the pull request, where the delivery tells it; None: it does not (GitLab's
    # hook names the author only by id, GitLab 8 sends no labels), and the preview asks the forge.
    author: str | None = None
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CommentEvent:
    delivery: str
    repository: Repository
    number: int
    comment_id: int
    author: str
    body: str
    edited: bool
    author_is_bot: bool  # as far as the forge tells (GitHub Apps); the bot's own user is checked by the workflow
    # The pull request's head when the comment was written, where the delivery tells it (GitLab's
    # `merge_request.last_commit`); GitHub's issue_comment does not: the command job records it when it first runs.
    head_sha: str | None = None


@dataclass(frozen=True)
class PushEvent:
    delivery: str
    repository: Repository
    ref: str
    before: str
    after: str
    deleted: bool

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


@dataclass(frozen=True)
class Ignored:
    """A valid delivery the bot has nothing to do for; the reason is the 202 answer's body."""

    reason: str


Event = PullRequestEvent | CommentEvent | PushEvent


class Payload:
    """Typed access to a decoded JSON body; a missing or mistyped field is a `MalformedEventError` naming its path."""

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, dict):
            raise MalformedEventError(f"{path or 'the body'} is not a JSON object")
        self._data = data
        self._path = path

    def _where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def section(self, key: str) -> Payload:
        if key not in self._data:
            raise MalformedEventError(f"missing field {self._where(key)}")
        return Payload(self._data[key], self._where(key))

    def text(self, key: str) -> str:
        value = self._data.get(key)
        if not isinstance(value, str):
            raise MalformedEventError(f"field {self._where(key)} must be a string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._data.get(key)
        return value if isinstance(value, str) else None

    def optional_section(self, key: str) -> Payload | None:
        """The object at `key`, or None where this forge version sends none (absent or null)."""
        return self.section(key) if self.has(key) else None

    def number(self, key: str) -> int:
        """A forge's id or number: an integer from 0 to 2^63 - 1, as the forges and the store hold them."""
        value = self._data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise MalformedEventError(f"field {self._where(key)} must be an integer")
        if not 0 <= value < _LARGEST_ID:
            raise MalformedEventError(f"field {self._where(key)} is out of range (0 to 2^63 - 1)")
        return value

    def optional_number(self, key: str) -> int | None:
        """An id some forge versions leave out: None when absent or null, checked like `number` when sent."""
        return self.number(key) if self.has(key) else None

    def names(self, key: str, field: str) -> tuple[str, ...] | None:
        """The `field` of each object in the list at `key` (labels), or None where the delivery has no such list."""
        value = self._data.get(key)
        if not isinstance(value, list):
            return None
        return tuple(Payload(item, f"{self._where(key)}[{index}]").text(field) for index, item in enumerate(value))

    def flag(self, key: str) -> bool:
        return self._data.get(key) is True
