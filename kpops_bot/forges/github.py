"""GitHub through PyGithub: a token or a GitHub App's installations, github.com or an Enterprise server."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jwt
import requests
from github import Auth, Github, GithubException, GithubIntegration
from github.CheckRun import CheckRun
from github.Commit import Commit
from github.CommitStatus import CommitStatus as GithubCommitStatus
from github.Issue import Issue as GithubIssue
from github.PaginatedList import PaginatedList
from github.Repository import Repository as GithubRepository

from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.failures import refused, unanswered
from kpops_bot.forges.retry import RetryPolicy, Transience, call_with_retries, write_once
from kpops_bot.forges.urls import github_web_url
from kpops_bot.model.forge import (
    CHECK_TEXT_LIMIT,
    COMMENT_LIMITS,
    STATUS_CONTEXT,
    Annotation,
    CheckReport,
    Comment,
    CommitState,
    CommitStatus,
    ForgeError,
    Issue,
    Permission,
    PullRequest,
    PullState,
    Reaction,
    Review,
    Verdict,
)
from kpops_bot.settings import GitHubSettings
from kpops_bot.text import shorten
from kpops_bot.workspace import http_auth_env

T = TypeVar("T")

_PERMISSIONS = {
    "admin": Permission.ADMIN,
    "maintain": Permission.MAINTAIN,
    "write": Permission.WRITE,
    "triage": Permission.TRIAGE,
    "read": Permission.READ,
}
_STATUS_DESCRIPTION_LIMIT = 140
_ANNOTATIONS_PER_REQUEST = 50  # GitHub's limit per create or update of a check run
_CHECK_TITLE_LIMIT = 255
_ANNOTATION_MESSAGE_LIMIT = 64_000
_VERDICTS = {
    "APPROVED": Verdict.APPROVED,
    "CHANGES_REQUESTED": Verdict.CHANGES_REQUESTED,
    "DISMISSED": Verdict.DISMISSED,
}


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return True
    if not isinstance(error, GithubException):
        return False
    if error.status >= 500 or error.status == 429:
        return True
    message = str(error.data).lower() if error.data else ""
    return error.status == 403 and ("secondary rate limit" in message or _retry_after(error) is not None)


def _retry_after(error: BaseException) -> float | None:
    headers = getattr(error, "headers", None) or {}
    value = {key.lower(): item for key, item in headers.items()}.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


TRANSIENCE = Transience(forge=Forge.GITHUB.value, is_transient=_is_transient, retry_after=_retry_after)
_ONCE = RetryPolicy(attempts=1)  # the start-up check: one answer, at once


def _failure(what: str, at: str, error: GithubException | requests.RequestException | jwt.PyJWTError) -> ForgeError:
    if isinstance(error, jwt.PyJWTError):  # its message is PyJWT's, about the key: only its kind is told
        return ForgeError(f"GitHub {what}: the App's private key cannot sign a token ({type(error).__name__})")
    if isinstance(error, requests.RequestException):
        request = error.request
        url = request.url if request is not None and isinstance(request.url, str) else at
        return unanswered("GitHub", what, url, error)
    data = error.data
    message = str(data.get("message") or "") if isinstance(data, dict) else str(data or "")
    return refused("GitHub", what, error.status, message, at, transient=_is_transient(error))


class GitHubClient:
    forge = Forge.GITHUB
    comment_limit = COMMENT_LIMITS[Forge.GITHUB]

    def __init__(self, settings: GitHubSettings, retry: RetryPolicy | None = None) -> None:
        self._settings = settings
        self._retry = retry or RetryPolicy()
        self._lock = threading.Lock()
        self._clients: dict[str, Github] = {}
        self._login: str | None = settings.bot_login
        self._web_url = github_web_url(settings.api_url)
        self._api = settings.api_url.rstrip("/")
        self._app: GithubIntegration | None = None
        key = settings.private_key()
        if settings.token is None and settings.app_id is not None and key is not None:
            self._app = GithubIntegration(
                auth=Auth.AppAuth(settings.app_id, key), base_url=settings.api_url, **self._options()
            )

    def _options(self) -> dict[str, Any]:
        return {
            "timeout": int(self._settings.timeout),
            "lazy": True,  # objects are addressed by URL; nothing is fetched until it is needed
            "retry": None,  # retried by call_with_retries, with one policy for both forges
            "seconds_between_requests": None,
            "seconds_between_writes": self._settings.seconds_between_writes or None,
        }

    def _call(self, what: str, at: str, call: Callable[[], T], policy: RetryPolicy | None = None) -> T:
        """`call()` with retries; `at` is the URL it requests, told when it fails."""
        try:
            return call_with_retries(policy or self._retry, TRANSIENCE, f"GitHub {what}", call)
        except (GithubException, requests.RequestException, jwt.PyJWTError) as error:
            raise _failure(what, at, error) from error

    def _write(self, what: str, at: str, write: Callable[[], T], find_written: Callable[[], T | None]) -> T:
        """A create, made once however late or failed its answers are (`retry.write_once`)."""
        try:
            return write_once(self._retry, TRANSIENCE, f"GitHub {what}", write, find_written)
        except (GithubException, requests.RequestException, jwt.PyJWTError) as error:
            raise _failure(what, at, error) from error

    def _at(self, repository: Repository, path: str) -> str:
        return f"{self._api}/repos/{repository.full_name}/{path}"

    def _github(self, repository: Repository) -> Github:
        """A client for the repository: the token's, or the App installation's that covers it."""
        cache_key = repository.full_name if self._app is not None else ""
        with self._lock:
            if cache_key in self._clients:
                return self._clients[cache_key]
        if self._app is not None:
            app = self._app
            owner, name = repository.full_name.split("/", 1)
            installation = self._call(
                "installation lookup",
                self._at(repository, "installation"),
                lambda: app.get_repo_installation(owner, name),
            )
            client = app.get_github_for_installation(installation.id)
        else:
            token = self._settings.token.get_secret_value() if self._settings.token else None
            client = Github(
                base_url=self._settings.api_url,
                auth=Auth.Token(token) if token else None,
                **self._options(),
            )
        with self._lock:
            self._clients[cache_key] = client
        return client

    def _repo(self, repository: Repository) -> GithubRepository:
        return self._github(repository).get_repo(repository.full_name)

    def bot_name(self) -> str:
        if self._login is None:
            if self._app is not None:
                app = self._app
                self._login = f"{self._call('app lookup', f'{self._api}/app', app.get_app).slug}[bot]"
            else:
                client = self._github(Repository(Forge.GITHUB, "", ""))
                self._login = self._call("user lookup", f"{self._api}/user", lambda: client.get_user().login)
        return self._login

    def check_credentials(self) -> str:
        if self._app is not None:
            app = self._app
            slug = self._call("App check", f"{self._api}/app", lambda: app.get_app().slug, _ONCE)
            installations = self._call(
                "App installations check",
                f"{self._api}/app/installations",
                lambda: len(list(app.get_installations())),
                _ONCE,
            )
            return f"the App {slug} ({installations} installation(s))"
        if self._settings.token is None:
            raise ForgeError("GitHub: no credentials (set github.token, or github.app_id and its private key)")
        client = self._github(Repository(Forge.GITHUB, "", ""))
        login = self._call("token check", f"{self._api}/user", lambda: client.get_user().login, _ONCE)
        return f"the user {login}"

    def comments(self, repository: Repository, number: int) -> list[Comment]:
        issue = self._repo(repository).get_issue(number)
        return self._call(
            "comment listing", self._at(repository, f"issues/{number}/comments"), lambda: _comments(issue)
        )

    def open_issue_with(self, repository: Repository, marker: str) -> Issue | None:
        """The bot's oldest open issue (not a pull request) whose body holds `marker`."""
        repo = self._repo(repository)
        login = self.bot_name()
        found = self._call(
            "issue listing",
            self._at(repository, "issues"),
            lambda: [
                issue
                for issue in repo.get_issues(state="open", direction="asc")
                if issue.pull_request is None and issue.user.login == login and marker in (issue.body or "")
            ],
        )
        return Issue(found[0].number, found[0].body or "", found[0].html_url) if found else None

    def create_issue(self, repository: Repository, title: str, body: str) -> Issue:
        repo = self._repo(repository)
        login = self.bot_name()

        def written() -> Issue | None:
            for issue in repo.get_issues(state="open", direction="desc"):  # what it wrote is among the newest
                mine = issue.pull_request is None and issue.user.login == login
                if mine and issue.title == title and (issue.body or "") == body:
                    return Issue(issue.number, issue.body or "", issue.html_url)
            return None

        def create() -> Issue:
            created = repo.create_issue(title=title, body=body)
            return Issue(created.number, created.body or "", created.html_url)

        return self._write("issue creation", self._at(repository, "issues"), create, written)

    def update_issue(self, repository: Repository, number: int, body: str, *, close: bool = False) -> None:
        issue = self._repo(repository).get_issue(number)
        at = self._at(repository, f"issues/{number}")
        if close:
            self._call("issue close", at, lambda: issue.edit(body=body, state="closed"))
        else:
            self._call("issue edit", at, lambda: issue.edit(body=body))

    def create_comment(self, repository: Repository, number: int, body: str) -> Comment:
        issue = self._repo(repository).get_issue(number)
        login = self.bot_name()

        def written() -> Comment | None:
            return next((c for c in reversed(_comments(issue)) if c.author == login and c.body == body), None)

        def create() -> Comment:
            created = issue.create_comment(body)
            return Comment(created.id, created.user.login, created.body or "", created.html_url)

        return self._write("comment creation", self._at(repository, f"issues/{number}/comments"), create, written)

    def edit_comment(self, repository: Repository, number: int, comment_id: int, body: str) -> None:
        comment = self._repo(repository).get_issue(number).get_comment(comment_id)
        self._call("comment edit", self._at(repository, f"issues/comments/{comment_id}"), lambda: comment.edit(body))

    def delete_comment(self, repository: Repository, number: int, comment_id: int) -> None:
        """A comment that is gone already (an earlier try deleted it, its answer lost) is not an error."""
        comment = self._repo(repository).get_issue(number).get_comment(comment_id)
        try:
            self._call("comment deletion", self._at(repository, f"issues/comments/{comment_id}"), comment.delete)
        except ForgeError as error:
            if error.status != 404:
                raise

    def react(self, repository: Repository, number: int, comment_id: int, reaction: str) -> None:
        comment = self._repo(repository).get_issue(number).get_comment(comment_id)
        login = self.bot_name()

        def written() -> bool | None:
            return any(r.user.login == login and r.content == reaction for r in comment.get_reactions()) or None

        def create() -> bool:
            comment.create_reaction(reaction)
            return True

        self._write("reaction", self._at(repository, f"issues/comments/{comment_id}/reactions"), create, written)

    def reactions(self, repository: Repository, number: int, comment_id: int) -> list[Reaction]:
        comment = self._repo(repository).get_issue(number).get_comment(comment_id)
        return self._call(
            "reaction listing",
            self._at(repository, f"issues/comments/{comment_id}/reactions"),
            lambda: [Reaction(reaction.user.login, reaction.content) for reaction in comment.get_reactions()],
        )

    def set_status(
        self, repository: Repository, sha: str, state: CommitState, description: str, target_url: str | None = None
    ) -> None:
        wanted = CommitStatus(state, shorten(description, _STATUS_DESCRIPTION_LIMIT), target_url or None)
        if self.status(repository, sha) == wanted:
            return
        commit = self._repo(repository).get_commit(sha)
        extra = {"target_url": target_url} if target_url else {}

        def create() -> bool:
            commit.create_status(state=state.value, description=wanted.description, context=STATUS_CONTEXT, **extra)
            return True

        def written() -> bool | None:
            return _latest_status(commit) == wanted or None

        self._write("commit status", self._at(repository, f"statuses/{sha}"), create, written)

    def publish_check(self, repository: Repository, sha: str, report: CheckReport) -> bool:
        """GitHub takes at most 50 annotations per request: the first go with the run, the rest in further updates
        (each update adds its annotations and none can be removed). A run already on the commit (a retried job) is
        updated, not doubled, and gets only the annotations it does not have yet: the report of one commit is the
        same each time, and its annotations go out in one order. A write whose answer was lost is counted by the
        annotations the run holds, so none is added twice."""
        if self._app is None:
            return False
        repo = self._repo(repository)
        commit = repo.get_commit(sha)
        conclusion = "success" if report.success else "failure"
        existing = self._call(
            "check run lookup", self._at(repository, f"commits/{sha}/check-runs"), lambda: _run(commit)
        )
        posted = existing.output.annotations_count if existing is not None else 0
        size = _ANNOTATIONS_PER_REQUEST
        missing = report.annotations[posted:]
        batches = [missing[i : i + size] for i in range(0, len(missing), size)] or [()]
        first, rest = batches[0], batches[1:]
        if existing is None:
            run = self._write(
                "check run",
                self._at(repository, "check-runs"),
                lambda: repo.create_check_run(
                    name=STATUS_CONTEXT,
                    head_sha=sha,
                    status="completed",
                    conclusion=conclusion,
                    output=_check_output(report, first),
                ),
                lambda: _run(commit),
            )
        else:
            run = self._edit_run(
                repository,
                commit,
                existing,
                posted + len(first),
                status="completed",
                conclusion=conclusion,
                output=_check_output(report, first),
            )
        count = posted + len(first)
        for batch in rest:
            count += len(batch)
            run = self._edit_run(repository, commit, run, count, output=_check_output(report, batch))
        return True

    def _edit_run(self, repository: Repository, commit: Commit, run: CheckRun, count: int, **changes: Any) -> CheckRun:
        """An update of the run that leaves it with `count` annotations. An update that adds annotations is not
        repeated once the run holds them; one that adds none is the same when repeated."""
        at = self._at(repository, f"check-runs/{run.id}")

        def edit() -> CheckRun:
            run.edit(**changes)
            return run

        if count == run.output.annotations_count:
            return self._call("check run update", at, edit)

        def written() -> CheckRun | None:
            now = _run(commit)
            return now if now is not None and now.output.annotations_count >= count else None

        return self._write("check run update", at, edit, written)

    def status(self, repository: Repository, sha: str) -> CommitStatus | None:
        commit = self._repo(repository).get_commit(sha)
        return self._call(
            "commit status listing", self._at(repository, f"commits/{sha}/statuses"), lambda: _latest_status(commit)
        )

    def status_history(self, repository: Repository, sha: str) -> list[CommitStatus]:
        commit = self._repo(repository).get_commit(sha)

        def every() -> list[CommitStatus]:
            return [
                CommitStatus(CommitState(status.state), status.description or "", status.target_url or None)
                for status in _statuses(commit)  # newest first
                if status.context == STATUS_CONTEXT
            ]

        return self._call("commit status listing", self._at(repository, f"commits/{sha}/statuses"), every)

    def permission(self, repository: Repository, user: str) -> Permission:
        repo = self._repo(repository)
        try:
            level = self._call(
                "permission lookup",
                self._at(repository, f"collaborators/{user}/permission"),
                lambda: _role(repo, user),
            )
        except ForgeError as error:
            if error.status == 404:
                return Permission.NONE
            raise
        return level

    def read_file(self, repository: Repository, path: str, ref: str) -> str | None:
        repo = self._repo(repository)
        try:
            content = self._call(
                "file read", self._at(repository, f"contents/{path}"), lambda: repo.get_contents(path, ref=ref)
            )
        except ForgeError as error:
            if error.status == 404:
                return None
            raise
        if isinstance(content, list):  # a folder
            return None
        return content.decoded_content.decode()

    def pull_request(self, repository: Repository, number: int) -> PullRequest:
        pull = self._repo(repository).get_pull(number)

        def read() -> PullRequest:
            head_repo = pull.head.repo
            reviews = tuple(
                Review(review.user.login, _VERDICTS[review.state], review.commit_id)
                for review in pull.get_reviews()  # oldest first
                if review.state in _VERDICTS and review.user is not None
            )
            return PullRequest(
                number=pull.number,
                state=PullState.MERGED if pull.merged else PullState(pull.state),
                author=pull.user.login,
                base_ref=pull.base.ref,
                head_sha=pull.head.sha,
                from_fork=head_repo is None or head_repo.full_name != repository.full_name,
                reviews=reviews,
                mergeable=pull.mergeable,
                merge_commit_sha=pull.merge_commit_sha if pull.merged else None,
                url=pull.html_url,
                labels=tuple(label.name for label in pull.labels),  # in the pull request's own JSON
            )

        return self._call("pull request lookup", self._at(repository, f"pulls/{number}"), read)

    def open_pull_requests(self, repository: Repository) -> list[int]:
        repo = self._repo(repository)
        return self._call(
            "pull request listing",
            self._at(repository, "pulls"),
            lambda: [pull.number for pull in repo.get_pulls(state="open")],
        )

    def commit_url(self, repository: Repository, sha: str) -> str:
        return f"{self._web_url}/{repository.full_name}/commit/{sha}"

    def git_env(self, repository: Repository) -> dict[str, str]:
        client = self._github(repository)
        token = self._call(
            "token", self._at(repository, "installation"), lambda: _token_of(client)
        )  # an App's installation token is made here
        return http_auth_env("x-access-token", token, self._web_url + "/") if token else {}


def _check_output(report: CheckReport, annotations: Sequence[Annotation]) -> dict[str, Any]:
    return {
        "title": shorten(report.title, _CHECK_TITLE_LIMIT),
        "summary": shorten(report.summary, CHECK_TEXT_LIMIT),
        "text": shorten(report.text, CHECK_TEXT_LIMIT),
        "annotations": [
            {
                "path": annotation.path,
                "start_line": annotation.line,
                "end_line": annotation.line,
                "annotation_level": annotation.level.value,
                "title": shorten(annotation.title, _CHECK_TITLE_LIMIT),
                "message": shorten(annotation.message, _ANNOTATION_MESSAGE_LIMIT),
            }
            for annotation in annotations
        ],
    }


def _comments(issue: GithubIssue) -> list[Comment]:
    return [
        Comment(comment.id, comment.user.login, comment.body or "", comment.html_url)
        for comment in issue.get_comments()
    ]


def _run(commit: Commit) -> CheckRun | None:
    """The commit's check run named `kpops-bot`, if it has one."""
    return next(iter(commit.get_check_runs(check_name=STATUS_CONTEXT)), None)


def _statuses(commit: Commit) -> PaginatedList[GithubCommitStatus]:
    """The commit's statuses, newest first, from the endpoint GitHub documents (`commits/{ref}/statuses`): PyGithub's
    `Commit.get_statuses` asks the legacy `statuses/{sha}`, which GitHub's OpenAPI description does not have."""
    return PaginatedList(GithubCommitStatus, commit.requester, f"{commit.url}/statuses", None)


def _role(repo: GithubRepository, user: str) -> Permission:
    """The user's role: GitHub's `permission` names only the base roles (a maintainer is `write` there, a triager
    `read`), `role_name` the role itself; a custom role's name is not ours, so its base role counts."""
    url = f"{repo.url}/collaborators/{urllib.parse.quote(user, safe='')}/permission"
    _, data = repo.requester.requestJsonAndCheck("GET", url)
    return _PERMISSIONS.get(data.get("role_name"), _PERMISSIONS.get(data.get("permission"), Permission.NONE))


def _latest_status(commit: Commit) -> CommitStatus | None:
    for status in _statuses(commit):  # newest first
        if status.context == STATUS_CONTEXT:
            return CommitStatus(CommitState(status.state), status.description or "", status.target_url or None)
    return None


def _token_of(client: Github) -> str | None:
    auth = client.requester.auth
    return str(auth.token) if auth is not None else None
