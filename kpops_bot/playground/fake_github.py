"""A GitHub REST API on loopback, as PyGithub calls it: stateful comments, reactions, statuses, permissions,
file contents from a bare repository, App installation tokens, pagination and `url` fields on its own address.

Mount prefix "/api/v3" to play a GitHub Enterprise server.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from kpops_bot.playground.fake_forge import FaultPlan, LoggedRequest, fault_response, git_file, link_header, page_of
from kpops_bot.playground.git_http import GitHttp
from kpops_bot.playground.github_json import GitHubJson

COMMENT_LIMIT = 65_536
DESCRIPTION_LIMIT = 140
# A role (`role_name`) → the legacy base role GitHub answers as `permission` beside it.
_PERMISSION = {
    "none": "none",
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}


@dataclass
class FakeGitHubRepo:
    full_name: str
    bare: Path
    permissions: dict[str, str] = field(default_factory=dict)  # login → none/read/triage/write/maintain/admin
    installation_id: int = 1


@dataclass
class StoredComment:
    id: int
    repo: str
    number: int
    login: str
    body: str
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (login, content), one per login and content


@dataclass
class StoredIssue:
    repo: str
    number: int
    login: str
    title: str
    body: str
    state: str = "open"  # open, closed


@dataclass
class StoredPull:
    repo: str
    number: int
    author: str
    head_ref: str
    head_sha: str
    base_ref: str = "main"
    fork: str | None = None
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    mergeable: bool | None = True
    reviews: list[tuple[str, str, str]] = field(default_factory=list)  # (login, APPROVED / ..., the head reviewed)
    labels: list[str] = field(default_factory=list)
    title: str = ""
    body: str = ""


@dataclass(frozen=True)
class ManifestCode:
    code: str
    app_id: int
    slug: str
    private_key_pem: str
    webhook_secret: str


@dataclass
class StoredCheckRun:
    id: int
    repo: str
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    output: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)  # every update's annotations, appended


@dataclass
class StoredStatus:
    state: str
    description: str
    context: str
    target_url: str | None
    id: int = 0
    creator: str = ""


_DOCS = "https://docs.github.com/rest"


def _error(message: str, status: int) -> JSONResponse:
    """GitHub's `basic-error`."""
    return JSONResponse({"message": message, "documentation_url": _DOCS, "status": str(status)}, status)


def _bad_credentials() -> JSONResponse:
    """GitHub's answer to a token it does not know."""
    return _error("Bad credentials", 401)


def _not_found() -> JSONResponse:
    return _error("Not Found", 404)


class FakeGitHub:
    def __init__(self, prefix: str = "", tokens: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.tokens = dict(tokens or {"bot-token": "kpops-bot"})  # token → login
        self.repos: dict[str, FakeGitHubRepo] = {}
        self.comments: dict[int, StoredComment] = {}
        self.statuses: dict[tuple[str, str], list[StoredStatus]] = {}
        self.check_runs: dict[int, StoredCheckRun] = {}
        self.pulls: dict[tuple[str, int], StoredPull] = {}
        self.issues: dict[tuple[str, int], StoredIssue] = {}
        self._issue_numbers = itertools.count(9001)  # apart from the pull request numbers tests choose
        self.faults = FaultPlan()
        self.log: list[LoggedRequest] = []
        self.app_id: int | None = None
        self.app_public_key: str | None = None
        self.app_slug = "kpops-bot-app"
        self.manifest_codes: dict[str, ManifestCode] = {}  # one-time codes GitHub hands out at App registration
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.origin = ""  # set by the test once the port is known
        self.git = GitHttp(
            lambda name: self.repos[name].bare if name in self.repos else None,
            lambda token: token in self.tokens,
        )

    # ---- test-side API -------------------------------------------------------------------------------------
    def add_repo(self, full_name: str, bare: Path, permissions: dict[str, str] | None = None) -> FakeGitHubRepo:
        repo = FakeGitHubRepo(full_name, bare, dict(permissions or {}))
        self.repos[full_name] = repo
        return repo

    def expect_manifest(self, code: ManifestCode) -> None:
        """An admin confirmed an App manifest on GitHub's page: GitHub sends the browser back with `code.code`."""
        self.manifest_codes[code.code] = code

    def enable_app(self, app_id: int, public_key_pem: str) -> None:
        self.app_id = app_id
        self.app_public_key = public_key_pem

    def pr_comments(self, full_name: str, number: int) -> list[StoredComment]:
        with self._lock:
            return [c for c in self.comments.values() if c.repo == full_name and c.number == number]

    def add_comment(self, full_name: str, number: int, login: str, body: str) -> StoredComment:
        with self._lock:
            comment = StoredComment(next(self._ids), full_name, number, login, body)
            self.comments[comment.id] = comment
            return comment

    def set_pull(self, pull: StoredPull) -> StoredPull:
        """Open or replace a pull request (as the forge records it before it sends the webhook)."""
        with self._lock:
            self.pulls[(pull.repo, pull.number)] = pull
            return pull

    def pull(self, full_name: str, number: int) -> StoredPull:
        with self._lock:
            return self.pulls[(full_name, number)]

    def commit_check_runs(self, full_name: str, sha: str) -> list[StoredCheckRun]:
        with self._lock:
            return [run for run in self.check_runs.values() if run.repo == full_name and run.head_sha == sha]

    def commit_statuses(self, full_name: str, sha: str) -> list[StoredStatus]:
        with self._lock:
            return list(self.statuses.get((full_name, sha), []))

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix

    @property
    def json(self) -> GitHubJson:
        """GitHub's objects on this fake's addresses."""
        return GitHubJson(self.base_url, self.origin)

    # ---- HTTP ----------------------------------------------------------------------------------------------
    def asgi(self) -> Any:
        api = [
            Route("/user", self._user),
            Route("/app", self._app),
            Route("/app/installations", self._installations),
            Route("/app-manifests/{code}/conversions", self._manifest_conversion, methods=["POST"]),
            Route("/app/installations/{installation:int}/access_tokens", self._access_token, methods=["POST"]),
            Route("/repos/{owner}/{name}/installation", self._installation),
            Route("/repos/{owner}/{name}/issues", self._issues, methods=["GET", "POST"]),
            Route("/repos/{owner}/{name}/issues/{number:int}", self._issue, methods=["GET", "PATCH"]),
            Route("/repos/{owner}/{name}/issues/{number:int}/comments", self._issue_comments, methods=["GET", "POST"]),
            Route("/repos/{owner}/{name}/issues/comments/{id:int}", self._comment, methods=["GET", "PATCH", "DELETE"]),
            Route("/repos/{owner}/{name}/issues/comments/{id:int}/reactions", self._reaction, methods=["GET", "POST"]),
            Route("/repos/{owner}/{name}/statuses/{sha}", self._status, methods=["GET", "POST"]),
            Route("/repos/{owner}/{name}/commits/{sha}/statuses", self._status),  # the listing GitHub documents
            Route("/repos/{owner}/{name}/check-runs", self._create_check_run, methods=["POST"]),
            Route("/repos/{owner}/{name}/check-runs/{id:int}", self._update_check_run, methods=["PATCH"]),
            Route("/repos/{owner}/{name}/commits/{sha}/check-runs", self._commit_check_runs),
            Route("/repos/{owner}/{name}/collaborators/{login}/permission", self._permission),
            Route("/repos/{owner}/{name}/contents/{path:path}", self._contents),
            Route("/repos/{owner}/{name}/pulls", self._pulls, methods=["GET", "POST"]),
            Route("/repos/{owner}/{name}/pulls/{number:int}", self._pull),
            Route("/repos/{owner}/{name}/pulls/{number:int}/reviews", self._reviews),
        ]
        routes = [Mount(self.prefix, routes=api)] if self.prefix else api
        app = Starlette(routes=routes)
        app.add_middleware(_Middleware, fake=self)
        return self.git(app)

    def _login(self, request: Request) -> str | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        return self.tokens.get(credential)

    def _repo(self, request: Request) -> FakeGitHubRepo | None:
        return self.repos.get(f"{request.path_params['owner']}/{request.path_params['name']}")

    def _comment_json(self, comment: StoredComment) -> dict[str, Any]:
        return self.json.comment(comment.repo, comment.number, comment.id, login=comment.login, body=comment.body)

    async def _user(self, request: Request) -> Response:
        login = self._login(request)
        if login is None or login.endswith("[bot]"):  # installation tokens have no user
            return _error("Resource not accessible by integration", 403)
        return JSONResponse(self.json.private_user(login))

    def _app_jwt_ok(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self.app_public_key is None:
            return False
        try:
            claims = jwt.decode(token, self.app_public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == str(self.app_id)

    async def _app(self, request: Request) -> Response:
        if not self._app_jwt_ok(request) or self.app_id is None:
            return _undecodable_jwt()
        return JSONResponse(self.json.app(self.app_id, self.app_slug, "acme"))

    async def _manifest_conversion(self, request: Request) -> Response:
        """GitHub's answer to a manifest code: the new App's credentials, once (the code is then spent)."""
        registered = self.manifest_codes.pop(request.path_params["code"], None)
        if registered is None:
            return _not_found()
        key = serialization.load_pem_private_key(registered.private_key_pem.encode(), password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.enable_app(registered.app_id, public.decode())
        self.app_slug = registered.slug
        return JSONResponse(
            {
                **self.json.app(registered.app_id, registered.slug, "acme"),
                "client_secret": "client-secret",
                "webhook_secret": registered.webhook_secret,
                "pem": registered.private_key_pem,
            },
            201,
        )

    async def _installations(self, request: Request) -> Response:
        """The App's installations: one per account its repositories are in."""
        if not self._app_jwt_ok(request) or self.app_id is None:
            return _undecodable_jwt()
        ids = sorted({repo.installation_id: repo.full_name.split("/")[0] for repo in self.repos.values()}.items())
        listed = [
            self.json.installation(installation, self.app_id, self.app_slug, account) for installation, account in ids
        ]
        items, page, _, last = page_of(request, listed, 30, 100)
        headers = {"Link": link_header(request, page, last)} if last > 1 else {}
        return JSONResponse(items, headers=headers)

    async def _installation(self, request: Request) -> Response:
        if not self._app_jwt_ok(request) or self.app_id is None:
            return _undecodable_jwt()
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        account = repo.full_name.split("/")[0]
        return JSONResponse(self.json.installation(repo.installation_id, self.app_id, self.app_slug, account))

    async def _access_token(self, request: Request) -> Response:
        if not self._app_jwt_ok(request):
            return _undecodable_jwt()
        token = f"ghs_{request.path_params['installation']}_{next(self._ids)}"
        self.tokens[token] = f"{self.app_slug}[bot]"
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return JSONResponse({"token": token, "expires_at": expires, "permissions": {}}, 201)

    def _issue_json(self, issue: StoredIssue) -> dict[str, Any]:
        comments = len(self.pr_comments(issue.repo, issue.number))
        return self.json.issue(
            issue.repo,
            issue.number,
            login=issue.login,
            title=issue.title,
            body=issue.body,
            state=issue.state,
            comments=comments,
        )

    def repo_issues(self, full_name: str) -> list[StoredIssue]:
        with self._lock:
            return sorted((i for i in self.issues.values() if i.repo == full_name), key=lambda i: i.number)

    async def _issues(self, request: Request) -> Response:
        """Issues as GitHub lists them: its pull requests too, each with `pull_request` (numbers the tests choose
        for pull requests stay apart from the issues' own, which start at 9001)."""
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        if request.method == "POST":
            data = await request.json()
            if not isinstance(data.get("title"), str) or not data["title"]:
                return _invalid("Issue", "title", "title can't be blank")
            login = self._login(request)
            assert login is not None
            with self._lock:
                issue = StoredIssue(
                    repo.full_name, next(self._issue_numbers), login, data["title"], data.get("body") or ""
                )
                self.issues[(repo.full_name, issue.number)] = issue
            return JSONResponse(self._issue_json(issue), 201)
        wanted = request.query_params.get("state", "open")
        issues = [
            (i.number, self._issue_json(i)) for i in self.repo_issues(repo.full_name) if wanted in (i.state, "all")
        ]
        with self._lock:
            pulls = [p for p in self.pulls.values() if p.repo == repo.full_name and wanted in (p.state, "all")]
        issues += [(p.number, self.json.pull_issue(p, comments=len(self.pr_comments(p.repo, p.number)))) for p in pulls]
        issues.sort(key=lambda numbered: numbered[0], reverse=request.query_params.get("direction", "desc") == "desc")
        items, page, _, last = page_of(request, [issue for _, issue in issues], 30, 100)
        headers = {"Link": link_header(request, page, last)} if last > 1 else {}
        return JSONResponse(items, headers=headers)

    async def _issue(self, request: Request) -> Response:
        repo = self._repo(request)
        issue = self.issues.get((repo.full_name, request.path_params["number"])) if repo else None
        if issue is None:
            return _not_found()
        if request.method == "PATCH":
            data = await request.json()
            if data.get("state", "open") not in ("open", "closed"):
                return _invalid("Issue", "state", "state is not included in the list")
            with self._lock:
                issue.body = data.get("body", issue.body)
                issue.title = data.get("title", issue.title)
                issue.state = data.get("state", issue.state)
        return JSONResponse(self._issue_json(issue))

    async def _issue_comments(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        number = request.path_params["number"]
        if request.method == "POST":
            body = (await request.json()).get("body", "")
            if len(body) > COMMENT_LIMIT:
                return _invalid("IssueComment", "body", f"body is too long (maximum is {COMMENT_LIMIT} characters)")
            login = self._login(request)
            assert login is not None
            return JSONResponse(self._comment_json(self.add_comment(repo.full_name, number, login, body)), 201)
        comments, page, _, last = page_of(
            request, [self._comment_json(c) for c in self.pr_comments(repo.full_name, number)], 30, 100
        )
        headers = {"Link": link_header(request, page, last)} if last > 1 else {}
        return JSONResponse(comments, headers=headers)

    async def _comment(self, request: Request) -> Response:
        with self._lock:
            comment = self.comments.get(request.path_params["id"])
        if comment is None:
            return _not_found()
        if request.method == "DELETE":
            with self._lock:
                del self.comments[comment.id]
            return Response(status_code=204)
        if request.method == "PATCH":
            if comment.login != self._login(request):
                return _error("Resource not accessible by integration", 403)
            body = (await request.json()).get("body", "")
            if len(body) > COMMENT_LIMIT:
                return _invalid("IssueComment", "body", f"body is too long (maximum is {COMMENT_LIMIT} characters)")
            comment.body = body
        return JSONResponse(self._comment_json(comment))

    async def _reaction(self, request: Request) -> Response:
        with self._lock:
            comment = self.comments.get(request.path_params["id"])
        if comment is None:
            return _not_found()
        if request.method == "GET":
            reactions, page, _, last = page_of(
                request,
                [self.json.reaction(index + 1, login=u, content=c) for index, (u, c) in enumerate(comment.reactions)],
                30,
                100,
            )
            headers = {"Link": link_header(request, page, last)} if last > 1 else {}
            return JSONResponse(reactions, headers=headers)
        content = (await request.json()).get("content")
        if content not in ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"):
            return _invalid("Reaction", "content", "content is not included in the list")
        login = self._login(request) or ""
        with self._lock:
            if (login, content) in comment.reactions:  # GitHub answers 200 with the reaction there is
                index = comment.reactions.index((login, content))
                return JSONResponse(self.json.reaction(index + 1, login=login, content=content), 200)
            comment.reactions.append((login, content))
            index = len(comment.reactions) - 1
        return JSONResponse(self.json.reaction(index + 1, login=login, content=content), 201)

    async def _status(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        sha = request.path_params["sha"]
        if request.method == "GET":  # newest first, as GitHub lists them
            listed = [
                self._status_json(repo.full_name, sha, s) for s in reversed(self.commit_statuses(repo.full_name, sha))
            ]
            statuses, page, _, last = page_of(request, listed, 30, 100)
            headers = {"Link": link_header(request, page, last)} if last > 1 else {}
            return JSONResponse(statuses, headers=headers)
        data = await request.json()
        if data.get("state") not in ("error", "failure", "pending", "success"):
            return _invalid("Status", "state", "state is not included in the list")
        if len(data.get("description") or "") > DESCRIPTION_LIMIT:
            return _invalid("Status", "description", "description is too long (maximum is 140 characters)")
        status = StoredStatus(
            data["state"],
            data.get("description") or "",
            data.get("context") or "default",
            data.get("target_url"),
            next(self._ids),
            self._login(request) or "",
        )
        with self._lock:
            self.statuses.setdefault((repo.full_name, sha), []).append(status)
        return JSONResponse(self._status_json(repo.full_name, sha, status), 201)

    def _status_json(self, full_name: str, sha: str, status: StoredStatus) -> dict[str, Any]:
        return self.json.status(
            full_name,
            sha,
            status.id,
            state=status.state,
            description=status.description,
            context=status.context,
            target_url=status.target_url,
            creator=status.creator,
        )

    # ---- check runs: only GitHub Apps may write them; output and annotations validated as GitHub does ---------
    def _check_run_json(self, run: StoredCheckRun) -> dict[str, Any]:
        app = self.json.app(self.app_id, self.app_slug, "acme") if self.app_id is not None else None
        return self.json.check_run(
            run.repo,
            run.id,
            app=app,
            head_sha=run.head_sha,
            name=run.name,
            status=run.status,
            conclusion=run.conclusion,
            output=run.output,
            annotations_count=len(run.annotations),
        )

    def _check_writer(self, request: Request) -> Response | None:
        if not (self._login(request) or "").endswith("[bot]"):
            return _error("You must authenticate via a GitHub App.", 403)
        return None

    async def _create_check_run(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        refused = self._check_writer(request)
        if refused is not None:
            return refused
        data = await request.json()
        if not data.get("name") or not data.get("head_sha"):
            return _invalid("CheckRun", "name" if not data.get("name") else "head_sha", "is missing")
        problem = _check_problem(data)
        if problem is not None:
            return problem
        output = data.get("output") or {}
        with self._lock:
            run = StoredCheckRun(
                next(self._ids),
                repo.full_name,
                data["head_sha"],
                data["name"],
                data.get("status") or "queued",
                data.get("conclusion"),
                output,
                list(output.get("annotations") or []),
            )
            self.check_runs[run.id] = run
        return JSONResponse(self._check_run_json(run), 201)

    async def _update_check_run(self, request: Request) -> Response:
        repo = self._repo(request)
        run = self.check_runs.get(request.path_params["id"])
        if repo is None or run is None or run.repo != repo.full_name:
            return _not_found()
        refused = self._check_writer(request)
        if refused is not None:
            return refused
        data = await request.json()
        problem = _check_problem(data)
        if problem is not None:
            return problem
        output = data.get("output") or {}
        with self._lock:
            run.status = data.get("status") or run.status
            run.conclusion = data.get("conclusion") or run.conclusion
            run.output = {**run.output, **{key: value for key, value in output.items() if key != "annotations"}}
            run.annotations += list(output.get("annotations") or [])
        return JSONResponse(self._check_run_json(run))

    async def _commit_check_runs(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        wanted = request.query_params.get("check_name")
        runs = [
            self._check_run_json(run)
            for run in self.commit_check_runs(repo.full_name, request.path_params["sha"])
            if wanted is None or run.name == wanted
        ]
        return JSONResponse({"total_count": len(runs), "check_runs": runs})

    async def _permission(self, request: Request) -> Response:
        repo = self._repo(request)
        login = request.path_params["login"]
        if repo is None or login not in repo.permissions:
            return _not_found()
        level = repo.permissions[login]
        assert level in _PERMISSION
        user = {**self.json.user(login), "role_name": level}
        return JSONResponse({"permission": _PERMISSION[level], "role_name": level, "user": user})

    async def _contents(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        path = request.path_params["path"]
        ref = request.query_params.get("ref", "HEAD")
        content = git_file(repo.bare, ref, path)
        if content is None:
            return _not_found()
        encoded = base64.b64encode(content).decode()
        return JSONResponse(self.json.file(repo.full_name, path, ref, content=encoded, size=len(content)))

    def _pull_json(self, pull: StoredPull) -> dict[str, Any]:
        return self.json.pull(pull, comments=len(self.pr_comments(pull.repo, pull.number)))

    async def _pulls(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        if request.method == "POST":
            return await self._open_pull(request, repo)
        wanted = request.query_params.get("state", "open")
        with self._lock:
            pulls = sorted(
                (p for p in self.pulls.values() if p.repo == repo.full_name and wanted in (p.state, "all")),
                key=lambda p: -p.number,  # GitHub lists the newest first
            )
        items, page, _, last = page_of(request, [self.json.pull_simple(p) for p in pulls], 30, 100)
        headers = {"Link": link_header(request, page, last)} if last > 1 else {}
        return JSONResponse(items, headers=headers)

    async def _open_pull(self, request: Request, repo: FakeGitHubRepo) -> Response:
        """A pull request opened through the API (as `gh pr create` does): its head is the branch's commit now."""
        data = await request.json()
        if not isinstance(data.get("title"), str) or not data["title"]:
            return _invalid("PullRequest", "title", "title can't be blank")
        base, head = data.get("base"), data.get("head")
        heads = {name: _branch_head(repo.bare, name) for name in (base, head) if isinstance(name, str)}
        if not heads.get(base) or not heads.get(head):
            return _invalid("PullRequest", "base" if not heads.get(base) else "head", "invalid")
        if heads[base] == heads[head]:
            return _invalid("PullRequest", "head", f"No commits between {base} and {head}")
        login = self._login(request)
        assert login is not None
        with self._lock:
            if any(p.state == "open" and (p.head_ref, p.base_ref) == (head, base) for p in self.pulls.values()):
                owner = repo.full_name.split("/")[0]
                return _invalid("PullRequest", "head", f"A pull request already exists for {owner}:{head}.")
            number = 1 + max((n for name, n in self.pulls if name == repo.full_name), default=0)
            pull = StoredPull(repo.full_name, number, login, head, heads[head], base_ref=base, title=data["title"])
            self.pulls[(repo.full_name, number)] = pull
        return JSONResponse(self._pull_json(pull), 201)

    async def _pull(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = self.pulls.get((repo.full_name, request.path_params["number"])) if repo else None
        if pull is None:
            return _not_found()
        return JSONResponse(self._pull_json(pull))

    async def _reviews(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = self.pulls.get((repo.full_name, request.path_params["number"])) if repo else None
        if pull is None:
            return _not_found()
        reviews = [  # GitHub keeps a review on the commit it was given on, whatever is pushed later
            self.json.review(pull.repo, pull.number, index + 1, login=login, state=state, commit=commit)
            for index, (login, state, commit) in enumerate(pull.reviews)
        ]
        items, page, _, last = page_of(request, reviews, 30, 100)
        headers = {"Link": link_header(request, page, last)} if last > 1 else {}
        return JSONResponse(items, headers=headers)


CHECK_TEXT_LIMIT = 65_535
ANNOTATIONS_PER_REQUEST = 50
_ANNOTATION_LEVELS = ("notice", "warning", "failure")


def _check_problem(data: dict[str, Any]) -> JSONResponse | None:
    """GitHub's 422s for a check run's conclusion, output and annotations."""
    if data.get("status") == "completed" and not data.get("conclusion"):
        return _invalid("CheckRun", "conclusion", "conclusion is required when status is completed")
    output = data.get("output")
    if output is None:
        return None
    if not output.get("title") or not output.get("summary"):
        return _invalid("CheckRun", "output", "output requires a title and a summary")
    for key in ("summary", "text"):
        if len(output.get(key) or "") > CHECK_TEXT_LIMIT:
            return _invalid(
                "CheckRun", f"output.{key}", f"{key} is too long (maximum is {CHECK_TEXT_LIMIT} characters)"
            )
    annotations = output.get("annotations") or []
    if len(annotations) > ANNOTATIONS_PER_REQUEST:
        return _invalid("CheckRun", "output.annotations", "annotations are limited to 50 per request")
    for annotation in annotations:
        missing = [
            key for key in ("path", "start_line", "end_line", "annotation_level", "message") if key not in annotation
        ]
        if missing:
            return _invalid("CheckRun", f"output.annotations.{missing[0]}", f"{missing[0]} is missing")
        if annotation["annotation_level"] not in _ANNOTATION_LEVELS:
            return _invalid(
                "CheckRun", "output.annotations.annotation_level", "annotation_level is not included in the list"
            )
        if not isinstance(annotation["start_line"], int) or annotation["end_line"] < annotation["start_line"]:
            return _invalid("CheckRun", "output.annotations.end_line", "end_line must be after start_line")
    return None


def _branch_head(bare: Path, branch: str) -> str:
    """The commit a branch of a bare repository points to, or "" when there is no such branch."""
    result = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()


def _invalid(resource: str, field_name: str, message: str) -> JSONResponse:
    """GitHub's `validation-error`."""
    return JSONResponse(
        {
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": "custom", "field": field_name, "message": message}],
            "documentation_url": _DOCS,
            "status": "422",
        },
        422,
    )


def _undecodable_jwt() -> JSONResponse:
    """GitHub's answer on an App's routes to a JWT it cannot verify."""
    return _error("A JSON web token could not be decoded", 401)


class _Middleware:
    """Authentication, injected faults and the request log, around every route."""

    def __init__(self, app: Callable[..., Awaitable[None]], fake: FakeGitHub) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path = request.url.path

        async def logging_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":  # logged before the client can see the answer
                self.fake.log.append(LoggedRequest(request.method, path, message["status"]))
                await self.fake.faults.answer_late(request.method, path, message["status"])
            await send(message)

        delay = self.fake.faults.delay_for(request.method, path)
        if delay:
            await asyncio.sleep(delay)
        fault = self.fake.faults.next()
        app_route = path.startswith(f"{self.fake.prefix}/app") or path.endswith("/installation")
        if fault is not None:
            await fault_response(fault)(scope, receive, logging_send)
        elif not app_route and self.fake._login(request) is None:
            await _bad_credentials()(scope, receive, logging_send)
        else:
            await self.app(scope, receive, logging_send)
