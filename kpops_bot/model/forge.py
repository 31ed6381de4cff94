"""The one small interface the workflows use to talk to a forge, and its values (permissions, reviews, statuses):
forge-neutral, so that settings, commands and reports use them without the clients; `kpops_bot.forges` implements it
for GitHub and GitLab."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Protocol

from kpops_bot.events.model import Forge, Repository

STATUS_CONTEXT = "kpops-bot"
# The longest comment body each forge accepts (GitHub's documented limit; GitLab's note limit).
COMMENT_LIMITS = {Forge.GITHUB: 65_536, Forge.GITLAB: 1_000_000}
CHECK_TEXT_LIMIT = 65_535  # a GitHub check run's output summary and text


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    url: str | None = None


@dataclass(frozen=True)
class Issue:
    """A repository's issue (GitHub issue, GitLab issue: `number` is its iid)."""

    number: int
    body: str
    url: str | None = None


class CommitState(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"  # the change is wrong: a pipeline does not render, a blocking risk
    ERROR = "error"  # the bot could not judge it


@dataclass(frozen=True)
class Reaction:
    user: str
    name: str  # as GitHub names it (`eyes`, `+1`, ...)


@dataclass(frozen=True)
class CommitStatus:
    """The current `kpops-bot` status of a commit, as the forge shows it (GitLab shows error as failure)."""

    state: CommitState
    description: str
    target_url: str | None


class Permission(IntEnum):
    """A user's rights on a repository, on one scale for both forges."""

    NONE = 0
    READ = 10  # GitHub read, GitLab guest / reporter
    TRIAGE = 20
    WRITE = 30  # GitHub write, GitLab developer
    MAINTAIN = 40  # GitHub maintain, GitLab maintainer
    ADMIN = 50  # GitHub admin, GitLab owner


class PullState(StrEnum):
    OPEN = "open"  # GitLab: opened or locked
    CLOSED = "closed"  # without merge
    MERGED = "merged"


class Verdict(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Review:
    """One reviewer's verdict as the forge keeps it."""

    user: str
    verdict: Verdict
    commit: str | None  # the head it was given on; None where the forge drops approvals when the head moves (GitLab)


@dataclass(frozen=True)
class PullRequest:
    """A pull request as the forge sees it now (a comment event carries none of this)."""

    number: int
    state: PullState
    author: str
    base_ref: str
    head_sha: str
    from_fork: bool
    reviews: tuple[Review, ...]  # oldest first; whose approval counts is decided by `commands.approval`
    mergeable: bool | None  # None while the forge is still computing it
    merge_commit_sha: str | None
    url: str | None = None
    labels: tuple[str, ...] = ()  # their names, as the forge lists them now

    @property
    def open(self) -> bool:
        return self.state is PullState.OPEN


class AnnotationLevel(StrEnum):
    NOTICE = "notice"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class Annotation:
    """A remark on one line of a file at the checked commit."""

    path: str
    line: int
    level: AnnotationLevel
    title: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """What a check run shows: a verdict, the summary, the details and the annotated lines."""

    success: bool
    title: str
    summary: str
    text: str
    annotations: tuple[Annotation, ...] = ()


class ForgeError(Exception):
    """A forge call that failed for good (after retries); the message holds no credentials.

    The message names the call, the forge's own words ("Bad credentials") and the request's URL. `transient`: the
    forge was down, slow or limiting (5xx, 429, a timeout, no answer), so the same call can succeed later; a refused
    request (401 wrong credentials, 403, 404, 422) is not. `status` is the HTTP status, None without an answer.
    """

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


class ForgeClient(Protocol):
    forge: Forge

    @property
    def comment_limit(self) -> int:
        """The longest comment body the forge accepts."""
        ...

    def bot_name(self) -> str:
        """The login the bot's comments are written by."""
        ...

    def check_credentials(self) -> str:
        """Who the forge says the configured credentials are (one request each, no retries): the login, or the App
        and its installations; a ForgeError with the forge's message and the URL when it refuses them or does not
        answer."""
        ...

    def comments(self, repository: Repository, number: int) -> list[Comment]:
        """All comments of a pull request, oldest first (every page)."""
        ...

    def create_comment(self, repository: Repository, number: int, body: str) -> Comment: ...

    def open_issue_with(self, repository: Repository, marker: str) -> Issue | None:
        """The bot's oldest open issue whose body holds `marker` (how it keeps one issue per concern)."""
        ...

    def create_issue(self, repository: Repository, title: str, body: str) -> Issue: ...

    def update_issue(self, repository: Repository, number: int, body: str, *, close: bool = False) -> None: ...

    def edit_comment(self, repository: Repository, number: int, comment_id: int, body: str) -> None: ...

    def delete_comment(self, repository: Repository, number: int, comment_id: int) -> None: ...

    def react(self, repository: Repository, number: int, comment_id: int, reaction: str) -> None:
        """`reaction` as GitHub names it (`eyes`, `+1`, `-1`, `rocket`, `confused`)."""
        ...

    def reactions(self, repository: Repository, number: int, comment_id: int) -> list[Reaction]:
        """Everybody's reactions to a comment (every page), so a retry adds none twice."""
        ...

    def set_status(
        self, repository: Repository, sha: str, state: CommitState, description: str, target_url: str | None = None
    ) -> None:
        """The commit status named `kpops-bot` (descriptions are cut to what the forge accepts); nothing is written
        when the commit shows this status already (a retry, or GitLab's refusal to make a pending status pending)."""
        ...

    def status(self, repository: Repository, sha: str) -> CommitStatus | None:
        """The commit's current `kpops-bot` status; None when it has none."""
        ...

    def status_history(self, repository: Repository, sha: str) -> list[CommitStatus]:
        """Every `kpops-bot` status the commit was given, newest first (both forges keep them all)."""
        ...

    def publish_check(self, repository: Repository, sha: str, report: CheckReport) -> bool:
        """The check run `kpops-bot` on the commit, created or updated; False where the forge's login has none
        (GitHub check runs need a GitHub App; tokens and GitLab keep the commit status alone)."""
        ...

    def permission(self, repository: Repository, user: str) -> Permission: ...

    def read_file(self, repository: Repository, path: str, ref: str) -> str | None:
        """A file's text at a branch or commit; None when it does not exist there."""
        ...

    def pull_request(self, repository: Repository, number: int) -> PullRequest: ...

    def open_pull_requests(self, repository: Repository) -> list[int]:
        """Numbers of every open pull request (every page)."""
        ...

    def commit_url(self, repository: Repository, sha: str) -> str:
        """Where a person sees the commit in the forge's web interface."""
        ...

    def git_env(self, repository: Repository) -> dict[str, str]:
        """git environment that lets the bot clone and fetch the repository over HTTPS."""
        ...
