"""An in-memory forge client for the workflows' unit tests: implements `ForgeClient`, records every call.

Comments, statuses and reactions are kept as a forge keeps them (ids ascending, edits in place, deletes gone);
`calls` lists every method called with its arguments, in order, so a test can say exactly what was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from github import GithubException
from gitlab.exceptions import GitlabError

from kpops_bot.events.model import Forge, Repository
from kpops_bot.model.forge import (
    COMMENT_LIMITS,
    CheckReport,
    Comment,
    CommitState,
    CommitStatus,
    ForgeError,
    Issue,
    Permission,
    PullRequest,
    Reaction,
)

BOT = "kpops-bot[bot]"


@dataclass(frozen=True)
class Status:
    sha: str
    state: CommitState
    description: str
    target_url: str | None


@dataclass
class RecordingForge:
    forge: Forge = Forge.GITHUB
    bot: str = BOT
    comment_limit: int = 0  # 0: the forge's own limit
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, ref) → text
    permissions: dict[str, Permission] = field(default_factory=dict)
    threads: dict[int, list[Comment]] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    reacted: list[tuple[int, int, str]] = field(default_factory=list)  # (number, comment id, reaction) by the bot
    checks_supported: bool = False  # True: as a GitHub App, which has check runs
    checks: list[tuple[str, CheckReport]] = field(default_factory=list)
    issues: dict[int, Issue] = field(default_factory=dict)  # the open ones
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    fail_writes: bool = False  # every write raises ForgeError (the forge answering 502 after the client's retries)
    failing_reads: set[str] = field(default_factory=set)  # reads of these names raise ForgeError ("pull_request", ...)
    failing_status: int = 403  # what the failing reads were answered (5xx: the forge down for a while)
    # A write of this name is stored, then raises: the forge kept it but the bot never heard back (killed, timed out).
    lost_answer: str | None = None
    lost_answer_at: int = 1  # which call of that name (1: the first)
    _next_id: int = 100

    def __post_init__(self) -> None:
        if not self.comment_limit:
            self.comment_limit = COMMENT_LIMITS[self.forge]

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.failing_reads:
            self._fail(name, self.failing_status)

    def _write(self, name: str, *args: Any) -> None:
        self._record(name, *args)
        if self.fail_writes:
            self._fail(name, 502)

    def _fail(self, name: str, status: int) -> None:
        """As the clients fail after their retries: a `ForgeError` raised from the HTTP library's error."""
        forge = "GitLab" if self.forge is Forge.GITLAB else "GitHub"
        cause: Exception = (
            GitlabError("error", status) if self.forge is Forge.GITLAB else GithubException(status, {"message": "x"})
        )
        transient = status >= 500 or status == 429
        raise ForgeError(
            f"{forge} {name.replace('_', ' ')}: HTTP {status}", status=status, transient=transient
        ) from cause

    def _answered(self, name: str) -> None:
        if self.lost_answer == name:
            self.lost_answer_at -= 1
            if self.lost_answer_at > 0:
                return
            self.lost_answer = None
            raise ForgeError(f"{name}: no answer (stored all the same)")

    def bot_name(self) -> str:
        return self.bot

    def comments(self, repository: Repository, number: int) -> list[Comment]:
        self._record("comments", number)
        return list(self.threads.get(number, []))

    def add_comment(self, number: int, body: str, author: str) -> Comment:
        """A comment somebody else wrote (not recorded as the bot's call)."""
        self._next_id += 1
        comment = Comment(self._next_id, author, body, f"https://forge.test/c/{self._next_id}")
        self.threads.setdefault(number, []).append(comment)
        return comment

    def open_issue_with(self, repository: Repository, marker: str) -> Issue | None:
        self._record("open_issue_with", marker)
        return next((issue for issue in self.issues.values() if marker in issue.body), None)

    def create_issue(self, repository: Repository, title: str, body: str) -> Issue:
        self._write("create_issue", title, body)
        self._next_id += 1
        self.issues[self._next_id] = Issue(self._next_id, body, f"https://forge.test/i/{self._next_id}")
        return self.issues[self._next_id]

    def update_issue(self, repository: Repository, number: int, body: str, *, close: bool = False) -> None:
        self._write("update_issue", number, body, close)
        if close:
            del self.issues[number]
        else:
            self.issues[number] = Issue(number, body, self.issues[number].url)

    def create_comment(self, repository: Repository, number: int, body: str) -> Comment:
        self._write("create_comment", number, body)
        assert len(body) <= self.comment_limit, f"comment of {len(body)} characters over the forge's limit"
        comment = self.add_comment(number, body, self.bot)
        self._answered("create_comment")
        return comment

    def edit_comment(self, repository: Repository, number: int, comment_id: int, body: str) -> None:
        self._write("edit_comment", number, comment_id, body)
        thread = self.threads[number]
        index = next(i for i, comment in enumerate(thread) if comment.id == comment_id)
        thread[index] = Comment(comment_id, thread[index].author, body, thread[index].url)

    def delete_comment(self, repository: Repository, number: int, comment_id: int) -> None:
        self._write("delete_comment", number, comment_id)
        self.threads[number] = [comment for comment in self.threads[number] if comment.id != comment_id]

    def react(self, repository: Repository, number: int, comment_id: int, reaction: str) -> None:
        self._write("react", number, comment_id, reaction)
        if (number, comment_id, reaction) not in self.reacted:  # one per user and reaction, as the forges keep them
            self.reacted.append((number, comment_id, reaction))
        self._answered("react")

    def reactions_of(self, number: int, comment_id: int) -> list[Reaction]:
        return [Reaction(self.bot, name) for n, c, name in self.reacted if (n, c) == (number, comment_id)]

    def reactions(self, repository: Repository, number: int, comment_id: int) -> list[Reaction]:
        self._record("reactions", number, comment_id)
        return self.reactions_of(number, comment_id)

    def set_status(
        self, repository: Repository, sha: str, state: CommitState, description: str, target_url: str | None = None
    ) -> None:
        if self._current(sha) == CommitStatus(state, description, target_url):
            return
        self._write("set_status", sha, state, description, target_url)
        self.statuses.append(Status(sha, state, description, target_url))
        self._answered("set_status")

    def status(self, repository: Repository, sha: str) -> CommitStatus | None:
        self._record("status", sha)
        return self._current(sha)

    def status_history(self, repository: Repository, sha: str) -> list[CommitStatus]:
        self._record("status_history", sha)
        mine = [status for status in self.statuses if status.sha == sha]
        return [CommitStatus(status.state, status.description, status.target_url) for status in reversed(mine)]

    def _current(self, sha: str) -> CommitStatus | None:
        mine = [status for status in self.statuses if status.sha == sha]
        if not mine:
            return None
        return CommitStatus(mine[-1].state, mine[-1].description, mine[-1].target_url)

    def publish_check(self, repository: Repository, sha: str, report: CheckReport) -> bool:
        if not self.checks_supported:
            return False
        self._write("publish_check", sha, report.success)
        self.checks.append((sha, report))
        return True

    def permission(self, repository: Repository, user: str) -> Permission:
        self._record("permission", user)
        return self.permissions.get(user, Permission.NONE)

    def read_file(self, repository: Repository, path: str, ref: str) -> str | None:
        self._record("read_file", path, ref)
        return self.files.get((path, ref))

    def pull_request(self, repository: Repository, number: int) -> PullRequest:
        self._record("pull_request", number)
        return self.pulls[number]

    def open_pull_requests(self, repository: Repository) -> list[int]:
        self._record("open_pull_requests")
        return sorted(number for number, pull in self.pulls.items() if pull.open)

    def commit_url(self, repository: Repository, sha: str) -> str:
        return f"https://forge.test/{repository.full_name}/commit/{sha}"

    def git_env(self, repository: Repository) -> dict[str, str]:
        return {"GIT_TEST_TOKEN": "forge-token"}

    # What tests read back.

    def bodies(self, number: int) -> list[str]:
        return [comment.body for comment in self.threads.get(number, [])]

    def bot_bodies(self, number: int) -> list[str]:
        return [comment.body for comment in self.threads.get(number, []) if comment.author == self.bot]

    def last_status(self, sha: str) -> Status:
        return [status for status in self.statuses if status.sha == sha][-1]

    def writes(self) -> list[str]:
        """The names of the write calls, in order."""
        reads = {"comments", "permission", "read_file", "pull_request", "open_pull_requests", "reactions", "status"}
        return [name for name, _ in self.calls if name not in reads]
