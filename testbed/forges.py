"""A fake forge running on loopback with its real client, seen through one adapter for tests of both forges."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.github import GitHubClient
from kpops_bot.forges.gitlab import GitLabClient
from kpops_bot.forges.retry import RetryPolicy
from kpops_bot.model.forge import ForgeClient
from kpops_bot.playground.asgi_server import ThreadedServer
from kpops_bot.playground.fake_forge import FaultPlan, LoggedRequest
from kpops_bot.playground.fake_github import FakeGitHub, StoredPull
from kpops_bot.playground.fake_gitlab import FakeGitLab, StoredMergeRequest
from kpops_bot.playground.git_http import GitHttp
from kpops_bot.settings import GitHubSettings, GitLabSettings
from testbed import github_openapi

RETRY_WAITS: list[float] = []  # every wait the clients were asked to make before a retry; none is really made
FAST_RETRIES = RetryPolicy(attempts=6, first_wait=0.05, max_wait=2, patience=0, sleep=RETRY_WAITS.append)
GITLAB_PROJECT_ID = 42
_GITLAB_LEVELS = {"read": 20, "write": 30, "maintain": 40, "admin": 50}


@dataclass(frozen=True)
class PostedComment:
    id: int
    author: str
    body: str
    reactions: list[str]


@dataclass(frozen=True)
class PostedStatus:
    state: str  # as the forge names it
    name: str
    description: str


class GitHubPulls:
    """Pull requests as the fake GitHub records them, changed the way people change them."""

    def __init__(self, fake: FakeGitHub, full_name: str) -> None:
        self._fake = fake
        self._full_name = full_name

    def open(
        self, number: int, head_sha: str, *, author: str = "alice", head_ref: str = "feature", fork: bool = False
    ) -> None:
        fork_name = "someone/deployments-fork" if fork else None
        self._fake.set_pull(StoredPull(self._full_name, number, author, head_ref, head_sha, fork=fork_name))

    def push(self, number: int, head_sha: str) -> None:
        self._fake.pull(self._full_name, number).head_sha = head_sha

    def merge(self, number: int, merge_commit_sha: str) -> None:
        pull = self._fake.pull(self._full_name, number)
        pull.state, pull.merged, pull.merge_commit_sha = "closed", True, merge_commit_sha

    def close(self, number: int) -> None:
        self._fake.pull(self._full_name, number).state = "closed"

    def approve(self, number: int, reviewer: str) -> None:
        self.review(number, reviewer, "APPROVED")

    def review(self, number: int, reviewer: str, state: str) -> None:
        """A review of the pull request's current head (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`)."""
        pull = self._fake.pull(self._full_name, number)
        pull.reviews.append((reviewer, state, pull.head_sha))

    def conflict(self, number: int) -> None:
        self._fake.pull(self._full_name, number).mergeable = False

    def label(self, number: int, name: str) -> None:
        self._fake.pull(self._full_name, number).labels.append(name)


class GitLabMergeRequests:
    def __init__(self, fake: FakeGitLab, project_id: int) -> None:
        self._fake = fake
        self._project_id = project_id

    def open(
        self, number: int, head_sha: str, *, author: str = "alice", head_ref: str = "feature", fork: bool = False
    ) -> None:
        source = self._project_id + 1 if fork else None
        merge_request = StoredMergeRequest(
            self._project_id, number, author, head_ref, head_sha, source_project_id=source
        )
        self._fake.set_merge_request(merge_request)

    def push(self, number: int, head_sha: str) -> None:
        self._fake.push(self._project_id, number, head_sha)

    def head(self, number: int) -> str | None:
        """The merge request's head now (what a note written now names), None when there is no such request."""
        found = self._fake.merge_requests.get((self._project_id, number))
        return None if found is None else found.sha

    def merge(self, number: int, merge_commit_sha: str) -> None:
        merge_request = self._fake.merge_request(self._project_id, number)
        merge_request.state, merge_request.merge_commit_sha = "merged", merge_commit_sha

    def close(self, number: int) -> None:
        self._fake.merge_request(self._project_id, number).state = "closed"

    def approve(self, number: int, reviewer: str) -> None:
        self._fake.merge_request(self._project_id, number).approved_by.append(reviewer)

    def conflict(self, number: int) -> None:
        self._fake.merge_request(self._project_id, number).detailed_merge_status = "broken_status"

    def label(self, number: int, name: str) -> None:
        self._fake.merge_request(self._project_id, number).labels.append(name)


@dataclass
class RunningForge:
    forge: Forge
    url: str  # what the bot is configured with
    client: ForgeClient
    repository: Repository
    faults: FaultPlan
    log: list[LoggedRequest]
    comments: Callable[[int], list[PostedComment]]
    add_comment: Callable[[int, str, str], int]
    statuses: Callable[[str], list[PostedStatus]]
    issues: Callable[[], list[tuple[int, str]]]  # (number, body) of every issue, oldest first
    pulls: GitHubPulls | GitLabMergeRequests
    git_requests: list[tuple[str, str]]  # (path, user) of every git request the forge answered
    git: GitHttp  # the forge's git hosting (`git.fail`: a git host answering 502 for a while)
    bot: str = "kpops-bot"

    @property
    def success(self) -> str:
        return "success"

    @property
    def failure(self) -> str:
        return "failure" if self.forge is Forge.GITHUB else "failed"


@contextmanager
def running_github(
    repo_git_dir: Path,
    permissions: dict[str, str] | None = None,
    *,
    prefix: str = "",
    retry: RetryPolicy = FAST_RETRIES,
    timeout: float = 15.0,
) -> Iterator[tuple[RunningForge, FakeGitHub]]:
    """`timeout`: the client's seconds per request (a late answer outlasts a short one)."""
    fake = FakeGitHub(prefix=prefix)
    full_name = "acme/deployments"
    fake.add_repo(full_name, repo_git_dir, permissions)
    recorder = github_openapi.Recorder(fake.asgi(), prefix)
    with ThreadedServer(recorder) as server:
        fake.origin = server.url
        settings = GitHubSettings(
            api_url=fake.base_url,
            token="bot-token",  # type: ignore[arg-type]
            seconds_between_writes=0,
            timeout=timeout,
        )
        running = RunningForge(
            forge=Forge.GITHUB,
            url=fake.base_url,
            client=GitHubClient(settings, retry),
            repository=Repository(Forge.GITHUB, full_name, str(repo_git_dir)),
            faults=fake.faults,
            log=fake.log,
            comments=lambda number: [
                PostedComment(c.id, c.login, c.body, [content for _, content in c.reactions])
                for c in fake.pr_comments(full_name, number)
            ],
            add_comment=lambda number, author, body: fake.add_comment(full_name, number, author, body).id,
            statuses=lambda sha: [
                PostedStatus(s.state, s.context, s.description) for s in fake.commit_statuses(full_name, sha)
            ],
            issues=lambda: [(issue.number, issue.body) for issue in fake.repo_issues(full_name)],
            pulls=GitHubPulls(fake, full_name),
            git_requests=fake.git.requests,
            git=fake.git,
        )
        yield running, fake
    github_openapi.check(recorder)


@contextmanager
def running_gitlab(
    repo_git_dir: Path,
    permissions: dict[str, str] | None = None,
    *,
    retry: RetryPolicy = FAST_RETRIES,
    timeout: float = 15.0,
) -> Iterator[tuple[RunningForge, FakeGitLab]]:
    fake = FakeGitLab()
    path = "acme/platform/deployments"
    members = {user: _GITLAB_LEVELS[level] for user, level in (permissions or {}).items() if level in _GITLAB_LEVELS}
    fake.add_project(GITLAB_PROJECT_ID, path, repo_git_dir, members)
    with ThreadedServer(fake.asgi()) as server:
        fake.origin = server.url
        settings = GitLabSettings(url=server.url, token="bot-token", timeout=timeout)  # type: ignore[arg-type]
        running = RunningForge(
            forge=Forge.GITLAB,
            url=server.url,
            client=GitLabClient(settings, retry),
            repository=Repository(Forge.GITLAB, path, str(repo_git_dir), GITLAB_PROJECT_ID),
            faults=fake.faults,
            log=fake.log,
            comments=lambda iid: [
                PostedComment(n.id, n.username, n.body, [name for _, name in n.emoji])
                for n in fake.mr_notes(GITLAB_PROJECT_ID, iid)
                if not n.system
            ],
            add_comment=lambda iid, author, body: fake.add_note(GITLAB_PROJECT_ID, iid, author, body).id,
            statuses=lambda sha: [
                PostedStatus(s.state, s.name, s.description) for s in fake.commit_statuses(GITLAB_PROJECT_ID, sha)
            ],
            issues=lambda: [
                (issue.iid, issue.description)
                for (project, _), issue in sorted(fake.issues.items())
                if project == GITLAB_PROJECT_ID
            ],
            pulls=GitLabMergeRequests(fake, GITLAB_PROJECT_ID),
            git_requests=fake.git.requests,
            git=fake.git,
        )
        yield running, fake


@contextmanager
def running_forge(
    forge: Forge,
    repo_git_dir: Path,
    permissions: dict[str, str] | None = None,
    *,
    retry: RetryPolicy = FAST_RETRIES,
    timeout: float = 15.0,
) -> Iterator[RunningForge]:
    if forge is Forge.GITHUB:
        with running_github(repo_git_dir, permissions, retry=retry, timeout=timeout) as (github, _):
            yield github
    else:
        with running_gitlab(repo_git_dir, permissions, retry=retry, timeout=timeout) as (gitlab, _):
            yield gitlab
