"""GitLab through python-gitlab: gitlab.com or a self-hosted instance, with an access token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.exceptions import GitlabError
from gitlab.v4.objects import Project, ProjectCommit, ProjectMergeRequest

from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.failures import refused, unanswered
from kpops_bot.forges.retry import RetryPolicy, Transience, call_with_retries, write_once
from kpops_bot.model.forge import (
    COMMENT_LIMITS,
    STATUS_CONTEXT,
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
from kpops_bot.settings import GitLabSettings
from kpops_bot.workspace import http_auth_env

T = TypeVar("T")

_STATES = {
    CommitState.PENDING: "pending",
    CommitState.SUCCESS: "success",
    CommitState.FAILURE: "failed",
    CommitState.ERROR: "failed",
}
_REACTIONS = {"+1": "thumbsup", "-1": "thumbsdown", "eyes": "eyes", "rocket": "rocket", "confused": "confused"}
_REACTION_NAMES = {name: reaction for reaction, name in _REACTIONS.items()}
# What GitLab shows for each state it keeps ("failed" stands for both failure and error).
_SHOWN = {
    "pending": CommitState.PENDING,
    "running": CommitState.PENDING,
    "success": CommitState.SUCCESS,
    "failed": CommitState.FAILURE,
    "canceled": CommitState.ERROR,
}
_DESCRIPTION_LIMIT = 255


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return True
    code = error.response_code if isinstance(error, GitlabError) else None
    return code is not None and (code >= 500 or code == 429)


TRANSIENCE = Transience(forge=Forge.GITLAB.value, is_transient=_is_transient, retry_after=lambda _error: None)
_ONCE = RetryPolicy(attempts=1)  # the start-up check: one answer, at once


_PULL_STATES = {"opened": PullState.OPEN, "locked": PullState.OPEN, "merged": PullState.MERGED}


def _level(access_level: int) -> Permission:
    if access_level >= 50:
        return Permission.ADMIN
    if access_level >= 40:
        return Permission.MAINTAIN
    if access_level >= 30:
        return Permission.WRITE
    if access_level >= 10:
        return Permission.READ
    return Permission.NONE


class GitLabClient:
    forge = Forge.GITLAB
    comment_limit = COMMENT_LIMITS[Forge.GITLAB]

    def __init__(self, settings: GitLabSettings, retry: RetryPolicy | None = None) -> None:
        self._retry = retry or RetryPolicy()
        token = settings.token.get_secret_value() if settings.token else None
        # python-gitlab waits out 429s itself as Retry-After says; 5xx and timeouts go through call_with_retries.
        self._gitlab = gitlab.Gitlab(
            settings.url, private_token=token, timeout=settings.timeout, keep_base_url=True, per_page=100
        )
        self._token = token
        self._url = settings.url.rstrip("/")
        self._username = settings.bot_username
        self._user_ids: dict[str, int | None] = {}
        self._lock = threading.Lock()
        # The URL of this thread's last answer: python-gitlab's errors do not carry it, the messages name it.
        self._answered = threading.local()
        self._gitlab.session.hooks["response"].append(self._remember_url)

    def _remember_url(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._answered.url = response.url

    def _call(self, what: str, call: Callable[[], T], policy: RetryPolicy | None = None) -> T:
        try:
            return call_with_retries(policy or self._retry, TRANSIENCE, f"GitLab {what}", call)
        except (GitlabError, requests.RequestException) as error:
            raise self._failure(what, error) from error

    def _write(self, what: str, write: Callable[[], T], find_written: Callable[[], T | None]) -> T:
        """A create, made once however late or failed its answers are (`retry.write_once`)."""
        try:
            return write_once(self._retry, TRANSIENCE, f"GitLab {what}", write, find_written)
        except (GitlabError, requests.RequestException) as error:
            raise self._failure(what, error) from error

    def _failure(self, what: str, error: GitlabError | requests.RequestException) -> ForgeError:
        if isinstance(error, requests.RequestException):
            request = error.request
            url = request.url if request is not None and isinstance(request.url, str) else f"{self._url}/api/v4"
            return unanswered("GitLab", what, url, error)
        url = getattr(self._answered, "url", None) or f"{self._url}/api/v4"
        code = error.response_code or 0
        return refused("GitLab", what, code, str(error.error_message), url, transient=_is_transient(error))

    def _project(self, repository: Repository) -> Project:
        project_id: int | str = repository.project_id or repository.full_name
        return self._gitlab.projects.get(project_id, lazy=True)

    def _merge_request(self, repository: Repository, number: int) -> ProjectMergeRequest:
        return self._project(repository).mergerequests.get(number, lazy=True)

    def bot_name(self) -> str:
        if self._username is None:
            self._username = self._call("user lookup", self._whoami)
        return self._username

    def check_credentials(self) -> str:
        if self._token is None:
            raise ForgeError("GitLab: no credentials (set gitlab.token)")
        return f"the user {self._call('token check', self._whoami, _ONCE)}"

    def _whoami(self) -> str:
        """The token's user (GET /user)."""
        self._gitlab.auth()
        assert self._gitlab.user is not None
        return str(self._gitlab.user.username)

    def comments(self, repository: Repository, number: int) -> list[Comment]:
        merge_request = self._merge_request(repository, number)
        return self._call("note listing", lambda: _notes(merge_request))

    def open_issue_with(self, repository: Repository, marker: str) -> Issue | None:
        """The bot's oldest open issue whose description holds `marker`."""
        project = self._project(repository)
        author = self.bot_name()
        issues = self._call(
            "issue listing",
            lambda: project.issues.list(
                get_all=True, state="opened", author_username=author, order_by="created_at", sort="asc"
            ),
        )
        found = [issue for issue in issues if marker in (issue.description or "")]
        return Issue(found[0].iid, found[0].description or "", found[0].web_url) if found else None

    def create_issue(self, repository: Repository, title: str, body: str) -> Issue:
        project = self._project(repository)
        author = self.bot_name()

        def written() -> Issue | None:
            newest_first = project.issues.list(
                iterator=True, state="opened", author_username=author, order_by="created_at", sort="desc"
            )
            for issue in newest_first:
                if issue.title == title and (issue.description or "") == body:
                    return Issue(issue.iid, issue.description or "", issue.web_url)
            return None

        def create() -> Issue:
            created = project.issues.create({"title": title, "description": body})
            return Issue(created.iid, created.description or "", created.web_url)

        return self._write("issue creation", create, written)

    def update_issue(self, repository: Repository, number: int, body: str, *, close: bool = False) -> None:
        project = self._project(repository)
        changes = {"description": body, **({"state_event": "close"} if close else {})}
        self._call("issue edit", lambda: project.issues.update(number, changes))

    def create_comment(self, repository: Repository, number: int, body: str) -> Comment:
        merge_request = self._merge_request(repository, number)
        author = self.bot_name()

        def written() -> Comment | None:
            mine = [note for note in _notes(merge_request) if note.author == author and note.body == body]
            return mine[-1] if mine else None

        def create() -> Comment:
            note = merge_request.notes.create({"body": body})
            return Comment(note.id, note.author["username"], note.body or "")

        return self._write("note creation", create, written)

    def edit_comment(self, repository: Repository, number: int, comment_id: int, body: str) -> None:
        merge_request = self._merge_request(repository, number)
        self._call("note edit", lambda: merge_request.notes.update(comment_id, {"body": body}))

    def delete_comment(self, repository: Repository, number: int, comment_id: int) -> None:
        """A note that is gone already (an earlier try deleted it, its answer lost) is not an error."""
        merge_request = self._merge_request(repository, number)
        try:
            self._call("note deletion", lambda: merge_request.notes.delete(comment_id))
        except ForgeError as error:
            if error.status != 404:
                raise

    def react(self, repository: Repository, number: int, comment_id: int, reaction: str) -> None:
        """GitLab refuses an award emoji a user gave already: one whose answer was lost is looked for, not sent."""
        note = self._merge_request(repository, number).notes.get(comment_id, lazy=True)
        name = _REACTIONS.get(reaction, reaction)
        author = self.bot_name()

        def written() -> bool | None:
            awarded = note.awardemojis.list(get_all=True)
            return any(award.user["username"] == author and award.name == name for award in awarded) or None

        def create() -> bool:
            note.awardemojis.create({"name": name})
            return True

        self._write("award emoji", create, written)

    def reactions(self, repository: Repository, number: int, comment_id: int) -> list[Reaction]:
        note = self._merge_request(repository, number).notes.get(comment_id, lazy=True)
        emoji = self._call("award emoji listing", lambda: note.awardemojis.list(get_all=True))
        return [Reaction(award.user["username"], _REACTION_NAMES.get(award.name, award.name)) for award in emoji]

    def set_status(
        self, repository: Repository, sha: str, state: CommitState, description: str, target_url: str | None = None
    ) -> None:
        shown = _SHOWN[_STATES[state]]
        wanted = CommitStatus(shown, description[:_DESCRIPTION_LIMIT], target_url or None)
        if self.status(repository, sha) == wanted:
            return
        commit = self._project(repository).commits.get(sha, lazy=True)
        data: dict[str, Any] = {"state": _STATES[state], "name": STATUS_CONTEXT, "description": wanted.description}
        if target_url:
            data["target_url"] = target_url

        def create() -> bool:
            commit.statuses.create(data)
            return True

        def written() -> bool | None:
            return _latest_status(commit) == wanted or None

        try:
            self._write("commit status", create, written)
        except ForgeError as error:
            # GitLab refuses to set a pending status pending again (another replica may have done it meanwhile).
            cause = error.__cause__
            if not (isinstance(cause, GitlabError) and "Cannot transition status" in str(cause.error_message)):
                raise

    def publish_check(self, repository: Repository, sha: str, report: CheckReport) -> bool:
        """GitLab has no check runs: the commit status stands alone."""
        return False

    def status(self, repository: Repository, sha: str) -> CommitStatus | None:
        commit = self._project(repository).commits.get(sha, lazy=True)
        return self._call("commit status listing", lambda: _latest_status(commit))

    def status_history(self, repository: Repository, sha: str) -> list[CommitStatus]:
        commit = self._project(repository).commits.get(sha, lazy=True)
        # `all`: GitLab lists only the latest status per name without it (`all=` alone would mean every page).
        wanted = {"name": STATUS_CONTEXT, "all": "true"}
        statuses = self._call(
            "commit status listing", lambda: commit.statuses.list(query_parameters=wanted, get_all=True)
        )
        return [_commit_status(status) for status in sorted(statuses, key=lambda status: status.id, reverse=True)]

    def permission(self, repository: Repository, user: str) -> Permission:
        user_id = self._user_id(user)
        if user_id is None:
            return Permission.NONE
        project = self._project(repository)
        try:
            member = self._call("membership lookup", lambda: project.members_all.get(user_id))
        except ForgeError as error:
            if error.status == 404:
                return Permission.NONE
            raise
        return _level(int(member.access_level))

    def _user_id(self, username: str) -> int | None:
        with self._lock:
            if username in self._user_ids:
                return self._user_ids[username]
        users = self._call("user lookup", lambda: self._gitlab.users.list(username=username, get_all=False))
        user_id = int(users[0].id) if users else None
        with self._lock:
            self._user_ids[username] = user_id
        return user_id

    def read_file(self, repository: Repository, path: str, ref: str) -> str | None:
        project = self._project(repository)
        try:
            raw = self._call("file read", lambda: project.files.raw(file_path=path, ref=ref))
        except ForgeError as error:
            if error.status == 404:
                return None
            raise
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def pull_request(self, repository: Repository, number: int) -> PullRequest:
        project = self._project(repository)

        def read() -> PullRequest:
            merge_request = project.mergerequests.get(number)
            approvals = merge_request.approvals.get()
            state = _PULL_STATES.get(merge_request.state, PullState.CLOSED)
            status = getattr(merge_request, "detailed_merge_status", None)
            return PullRequest(
                number=merge_request.iid,
                state=state,
                author=merge_request.author["username"],
                base_ref=merge_request.target_branch,
                head_sha=merge_request.sha,
                from_fork=merge_request.source_project_id != merge_request.target_project_id,
                # GitLab removes approvals when commits are pushed (the project's default): those left are on the head.
                reviews=tuple(
                    Review(approver["user"]["username"], Verdict.APPROVED, None)
                    for approver in getattr(approvals, "approved_by", None) or []
                ),
                mergeable=None if status in (None, "checking", "unchecked") else status == "mergeable",
                merge_commit_sha=merge_request.merge_commit_sha or getattr(merge_request, "squash_commit_sha", None),
                url=merge_request.web_url,
                labels=tuple(merge_request.labels),  # the API lists their names
            )

        return self._call("merge request lookup", read)

    def open_pull_requests(self, repository: Repository) -> list[int]:
        project = self._project(repository)
        return self._call(
            "merge request listing",
            lambda: [int(mr.iid) for mr in project.mergerequests.list(state="opened", iterator=True)],
        )

    def commit_url(self, repository: Repository, sha: str) -> str:
        return f"{self._url}/{repository.full_name}/-/commit/{sha}"

    def git_env(self, repository: Repository) -> dict[str, str]:
        return http_auth_env("oauth2", self._token, self._url + "/") if self._token else {}


def _notes(merge_request: ProjectMergeRequest) -> list[Comment]:
    """The merge request's notes, oldest first, without GitLab's system notes."""
    notes = merge_request.notes.list(get_all=True, sort="asc", order_by="created_at")
    return [
        Comment(note.id, note.author["username"], note.body or "")
        for note in notes
        if not getattr(note, "system", False)
    ]


def _latest_status(commit: ProjectCommit) -> CommitStatus | None:
    # Without `all`, GitLab lists the latest status of each name: one entry, not the commit's history.
    statuses = commit.statuses.list(name=STATUS_CONTEXT, get_all=True)
    return _commit_status(max(statuses, key=lambda status: status.id)) if statuses else None


def _commit_status(status: Any) -> CommitStatus:
    return CommitStatus(_SHOWN.get(status.status, CommitState.ERROR), status.description or "", status.target_url)
