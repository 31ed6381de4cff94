"""A GitLab REST API (v4) on loopback, as python-gitlab calls it: merge request notes with award emoji, commit
statuses with GitLab's transition rules, project members, raw files from a bare repository, users, pagination.

Projects are addressed by id or by URL-encoded path (`group%2Fproject`), as GitLab does.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kpops_bot.playground.fake_forge import FaultPlan, LoggedRequest, fault_response, git_file, link_header, page_of
from kpops_bot.playground.git_http import GitHttp

NOTE_LIMIT = 1_000_000


@dataclass
class FakeGitLabProject:
    id: int
    path: str
    bare: Path
    members: dict[str, int] = field(default_factory=dict)  # username → access level (30 developer, 40 maintainer)
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)  # as stored, with the secret token


@dataclass
class StoredNote:
    id: int
    project_id: int
    iid: int
    username: str
    body: str
    system: bool = False
    emoji: list[tuple[str, str]] = field(default_factory=list)  # (username, name)


@dataclass
class StoredIssue:
    project_id: int
    iid: int
    username: str
    title: str
    description: str
    state: str = "opened"  # opened, closed


@dataclass
class StoredMergeRequest:
    project_id: int
    iid: int
    author: str
    source_branch: str
    sha: str
    target_branch: str = "main"
    source_project_id: int | None = None  # another project's id: from a fork
    state: str = "opened"  # opened, closed, merged
    merge_commit_sha: str | None = None
    detailed_merge_status: str = "mergeable"
    approved_by: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


@dataclass
class StoredStatus:
    state: str
    name: str
    description: str
    target_url: str | None


def _hook_json(hook: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in hook.items() if key != "token"}


def _paged(request: Request, everything: list[Any]) -> JSONResponse:
    """One page of a listing with GitLab's pagination headers (and the Link header)."""
    items, page, per_page, last = page_of(request, everything, 20, 100)
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Total": str(len(everything)),
        "X-Total-Pages": str(last),
        "X-Next-Page": str(page + 1) if page < last else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
    }
    link = link_header(request, page, last)
    if link:
        headers["Link"] = link
    return JSONResponse(items, headers=headers)


def _message(text: str, status: int) -> JSONResponse:
    return JSONResponse({"message": text}, status)


class FakeGitLab:
    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = dict(tokens or {"bot-token": "kpops-bot"})  # token → username
        self.users: dict[str, int] = {}
        self.projects: dict[int, FakeGitLabProject] = {}
        self.notes: dict[int, StoredNote] = {}
        self.statuses: dict[tuple[int, str], list[StoredStatus]] = {}
        self.merge_requests: dict[tuple[int, int], StoredMergeRequest] = {}
        self.issues: dict[tuple[int, int], StoredIssue] = {}
        self.origin = ""  # set by the test once the port is known
        self.faults = FaultPlan()
        self.log: list[LoggedRequest] = []
        self.git = GitHttp(self._bare, lambda token: token in self.tokens)
        self._ids = itertools.count(5001)
        self._lock = threading.Lock()

    # ---- test-side API -------------------------------------------------------------------------------------
    def user(self, username: str) -> int:
        with self._lock:
            return self.users.setdefault(username, len(self.users) + 1)

    def add_project(self, project_id: int, path: str, bare: Path, members: dict[str, int] | None = None) -> None:
        self.projects[project_id] = FakeGitLabProject(project_id, path, bare, dict(members or {}))
        for username in [*self.tokens.values(), *(members or {})]:
            self.user(username)

    def mr_notes(self, project_id: int, iid: int) -> list[StoredNote]:
        with self._lock:
            return [n for n in self.notes.values() if n.project_id == project_id and n.iid == iid]

    def add_note(self, project_id: int, iid: int, username: str, body: str, *, system: bool = False) -> StoredNote:
        self.user(username)
        with self._lock:
            note = StoredNote(next(self._ids), project_id, iid, username, body, system)
            self.notes[note.id] = note
            return note

    def set_merge_request(self, merge_request: StoredMergeRequest) -> StoredMergeRequest:
        self.user(merge_request.author)
        with self._lock:
            self.merge_requests[(merge_request.project_id, merge_request.iid)] = merge_request
            return merge_request

    def merge_request(self, project_id: int, iid: int) -> StoredMergeRequest:
        with self._lock:
            return self.merge_requests[(project_id, iid)]

    def push(self, project_id: int, iid: int, sha: str) -> None:
        """New commits on the source branch: GitLab removes the approvals (the projects' default setting)."""
        with self._lock:
            merge_request = self.merge_requests[(project_id, iid)]
            merge_request.sha = sha
            merge_request.approved_by.clear()

    def commit_statuses(self, project_id: int, sha: str) -> list[StoredStatus]:
        with self._lock:
            return list(self.statuses.get((project_id, sha), []))

    # ---- HTTP ----------------------------------------------------------------------------------------------
    def asgi(self) -> Any:
        methods = ["GET", "POST", "PUT", "DELETE"]
        return self.git(Starlette(routes=[Route("/api/v4/{rest:path}", self._dispatch, methods=methods)]))

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        delay = self.faults.delay_for(request.method, path)
        if delay:
            await asyncio.sleep(delay)
        fault = self.faults.next()
        response = fault_response(fault) if fault is not None else await self._answer(request)
        self.log.append(LoggedRequest(request.method, path, response.status_code))
        await self.faults.answer_late(request.method, path, response.status_code)
        return response

    async def _answer(self, request: Request) -> Response:
        username = self.tokens.get(request.headers.get("private-token", ""))
        if username is None:
            return _message("401 Unauthorized", 401)
        raw = request.scope["raw_path"].decode().removeprefix("/api/v4/")
        parts = [unquote(part) for part in raw.split("/")]
        if parts == ["user"]:
            return JSONResponse(self._user_json(username))
        if parts == ["users"]:
            wanted = request.query_params.get("username")
            return JSONResponse([self._user_json(name) for name in self.users if name == wanted])
        if len(parts) < 2 or parts[0] != "projects":
            return _message("404 Not Found", 404)
        project = self._project(parts[1])
        if project is None:
            return _message("404 Project Not Found", 404)
        if parts[2:3] == ["issues"]:
            return await self._issue_route(request, project, parts[3:], username)
        return await self._project_route(request, project, parts[2:], username)

    async def _issue_route(
        self, request: Request, project: FakeGitLabProject, parts: list[str], username: str
    ) -> Response:
        match parts:
            case []:
                return await self._issues(request, project, username)
            case [iid] if request.method in ("GET", "PUT"):
                return await self._issue(request, project, int(iid))
        return _message("404 Not Found", 404)

    async def _project_route(
        self, request: Request, project: FakeGitLabProject, parts: list[str], username: str
    ) -> Response:
        match parts:
            case ["merge_requests"] if request.method == "GET":
                return self._merge_request_list(request, project)
            case ["merge_requests", iid] if request.method == "GET":
                return self._merge_request_answer(project, int(iid), approvals=False)
            case ["merge_requests", iid, "approvals"] if request.method == "GET":
                return self._merge_request_answer(project, int(iid), approvals=True)
            case ["merge_requests", iid, "notes"]:
                return await self._notes(request, project, int(iid), username)
            case ["merge_requests", iid, "notes", note_id]:
                return await self._note(request, project, int(iid), int(note_id), username)
            case ["merge_requests", iid, "notes", note_id, "award_emoji"]:
                return await self._award(request, project, int(iid), int(note_id), username)
            case ["statuses", sha] if request.method == "POST":
                return await self._status(request, project, sha)
            case ["members", "all", user_id]:
                return self._member(project, int(user_id))
            case ["hooks"]:
                return await self._hooks(request, project, username)
            case ["hooks", hook_id] if request.method == "PUT":
                return await self._hook_update(request, project, int(hook_id), username)
            case ["repository", *rest]:
                return self._repository_route(request, project, rest)
        return _message("404 Not Found", 404)

    def _repository_route(self, request: Request, project: FakeGitLabProject, parts: list[str]) -> Response:
        match parts:
            case ["commits", sha, "statuses"] if request.method == "GET":
                return self._status_list(request, project, sha)
            case ["files", path, "raw"]:
                content = git_file(project.bare, request.query_params.get("ref", "HEAD"), path)
                if content is None:
                    return _message("404 File Not Found", 404)
                return Response(content, media_type="text/plain")
        return _message("404 Not Found", 404)

    def _issue_json(self, project: FakeGitLabProject, issue: StoredIssue) -> dict[str, Any]:
        return {
            "id": 70_000 + issue.iid,
            "iid": issue.iid,
            "project_id": issue.project_id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "author": self._user_json(issue.username),
            "web_url": f"{self.origin}/{project.path}/-/issues/{issue.iid}",
        }

    async def _issues(self, request: Request, project: FakeGitLabProject, username: str) -> Response:
        if request.method == "POST":
            data = await request.json()
            if not data.get("title"):
                return JSONResponse({"message": {"title": ["can't be blank"]}}, 400)
            with self._lock:
                iid = 1 + sum(1 for key in self.issues if key[0] == project.id)
                issue = StoredIssue(project.id, iid, username, data["title"], data.get("description") or "")
                self.issues[(project.id, iid)] = issue
            return JSONResponse(self._issue_json(project, issue), 201)
        if request.method != "GET":
            return _message("405 Method Not Allowed", 405)
        params = request.query_params
        issues = sorted((i for i in self.issues.values() if i.project_id == project.id), key=lambda i: i.iid)
        if params.get("state") in ("opened", "closed"):
            issues = [i for i in issues if i.state == params["state"]]
        if params.get("author_username"):
            issues = [i for i in issues if i.username == params["author_username"]]
        if params.get("sort", "desc") == "desc":
            issues.reverse()
        return _paged(request, [self._issue_json(project, issue) for issue in issues])

    async def _issue(self, request: Request, project: FakeGitLabProject, iid: int) -> Response:
        issue = self.issues.get((project.id, iid))
        if issue is None:
            return _message("404 Not found", 404)
        if request.method == "PUT":
            data = await request.json()
            event = data.get("state_event")
            if event not in (None, "close", "reopen"):
                return JSONResponse({"error": "state_event does not have a valid value"}, 400)
            with self._lock:
                issue.description = data.get("description", issue.description)
                issue.title = data.get("title", issue.title)
                if event is not None:
                    issue.state = "closed" if event == "close" else "opened"
        return JSONResponse(self._issue_json(project, issue))

    def _bare(self, path: str) -> Path | None:
        project = next((project for project in self.projects.values() if project.path == path), None)
        return project.bare if project else None

    async def _hooks(self, request: Request, project: FakeGitLabProject, username: str) -> Response:
        """Project hooks need the Maintainer role; the secret token is never shown again."""
        if project.members.get(username, 0) < 40:
            return _message("403 Forbidden", 403)
        if request.method == "GET":
            return _paged(request, [_hook_json(hook) for _, hook in sorted(project.hooks.items())])
        if request.method != "POST":
            return _message("405 Method Not Allowed", 405)
        attributes = await request.json()
        if not str(attributes.get("url", "")).startswith(("http://", "https://")):
            return JSONResponse({"error": "url is missing, url is invalid"}, 400)
        with self._lock:
            hook = {**attributes, "id": next(self._ids), "project_id": project.id}
            project.hooks[hook["id"]] = hook
        return JSONResponse(_hook_json(hook), 201)

    async def _hook_update(self, request: Request, project: FakeGitLabProject, hook_id: int, username: str) -> Response:
        if project.members.get(username, 0) < 40:
            return _message("403 Forbidden", 403)
        with self._lock:
            hook = project.hooks.get(hook_id)
            if hook is None:
                return _message("404 Not found", 404)
            hook.update(
                {key: value for key, value in (await request.json()).items() if key not in ("id", "project_id")}
            )
            return JSONResponse(_hook_json(hook))

    def _project(self, ident: str) -> FakeGitLabProject | None:
        if ident.isdigit():
            return self.projects.get(int(ident))
        return next((project for project in self.projects.values() if project.path == ident), None)

    def _user_json(self, username: str) -> dict[str, Any]:
        return {"id": self.user(username), "username": username, "name": username, "state": "active"}

    def _note_json(self, note: StoredNote) -> dict[str, Any]:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "author": self._user_json(note.username),
            "created_at": "2026-11-21T10:00:00.000Z",
            "updated_at": "2026-11-21T10:00:00.000Z",
            "system": note.system,
            "noteable_id": note.iid + 100_000,
            "noteable_type": "MergeRequest",
            "noteable_iid": note.iid,
            "project_id": note.project_id,
        }

    async def _notes(self, request: Request, project: FakeGitLabProject, iid: int, username: str) -> Response:
        if request.method == "POST":
            body = (await request.json()).get("body", "")
            if len(body) > NOTE_LIMIT:
                return _message('Note {:note=>["is too long (maximum is 1000000 characters)"]}', 400)
            return JSONResponse(self._note_json(self.add_note(project.id, iid, username, body)), 201)
        if request.method != "GET":
            return _message("405 Method Not Allowed", 405)
        notes = sorted(self.mr_notes(project.id, iid), key=lambda note: note.id)
        if request.query_params.get("sort", "desc") == "desc":
            notes.reverse()
        return _paged(request, [self._note_json(note) for note in notes])

    async def _note(
        self, request: Request, project: FakeGitLabProject, iid: int, note_id: int, username: str
    ) -> Response:
        with self._lock:
            note = self.notes.get(note_id)
        if note is None or note.project_id != project.id or note.iid != iid:
            return _message("404 Not found", 404)
        if request.method == "DELETE":
            with self._lock:
                del self.notes[note_id]
            return Response(status_code=204)
        if request.method == "PUT":
            if note.username != username:
                return _message("403 Forbidden", 403)
            body = (await request.json()).get("body", "")
            if len(body) > NOTE_LIMIT:
                return _message('Note {:note=>["is too long (maximum is 1000000 characters)"]}', 400)
            note.body = body
        return JSONResponse(self._note_json(note))

    async def _award(
        self, request: Request, project: FakeGitLabProject, iid: int, note_id: int, username: str
    ) -> Response:
        with self._lock:
            note = self.notes.get(note_id)
        if note is None or note.project_id != project.id or note.iid != iid:
            return _message("404 Not found", 404)
        if request.method == "GET":
            return _paged(
                request,
                [{"id": i, "name": n, "user": self._user_json(u)} for i, (u, n) in enumerate(note.emoji)],
            )
        name = (await request.json()).get("name")
        with self._lock:
            if (username, name) in note.emoji:
                return _message("404 Award Emoji Name has already been taken", 404)
            note.emoji.append((username, name))
        return JSONResponse({"id": next(self._ids), "name": name, "user": self._user_json(username)}, 201)

    async def _status(self, request: Request, project: FakeGitLabProject, sha: str) -> Response:
        data = await request.json()
        state = data.get("state")
        if state not in ("pending", "running", "success", "failed", "canceled", "skipped"):
            return _message("state does not have a valid value", 400)
        name = data.get("name") or data.get("context") or "default"
        with self._lock:
            history = self.statuses.setdefault((project.id, sha), [])
            latest = next((status for status in reversed(history) if status.name == name), None)
            if latest is not None and latest.state == state and state in ("pending", "running"):
                # GitLab keeps statuses as state machines: a pending status cannot be made pending again.
                verb = "enqueue" if state == "pending" else "run"
                return _message(f"Cannot transition status via :{verb} from :{state}", 400)
            history.append(StoredStatus(state, name, data.get("description") or "", data.get("target_url")))
        return JSONResponse(
            {"id": next(self._ids), "sha": sha, "status": state, "name": name, "description": data.get("description")},
            201,
        )

    def _status_list(self, request: Request, project: FakeGitLabProject, sha: str) -> JSONResponse:
        """The latest status of each name (GitLab's default), every status with `all=true`; by `name` when given."""
        listed: dict[str | int, tuple[int, StoredStatus]] = {}
        every = request.query_params.get("all") == "true"
        for index, status in enumerate(self.commit_statuses(project.id, sha)):
            listed[index if every else status.name] = (index, status)
        wanted = request.query_params.get("name")
        return _paged(
            request,
            [
                {
                    "id": index + 1,
                    "sha": sha,
                    "status": status.state,
                    "name": status.name,
                    "description": status.description,
                    "target_url": status.target_url,
                }
                for index, status in listed.values()
                if wanted is None or status.name == wanted
            ],
        )

    def _merge_request_json(self, mr: StoredMergeRequest) -> dict[str, Any]:
        project = self.projects[mr.project_id]
        return {
            "id": mr.iid + 900_000,
            "iid": mr.iid,
            "project_id": mr.project_id,
            "state": mr.state,
            "author": self._user_json(mr.author),
            "source_branch": mr.source_branch,
            "target_branch": mr.target_branch,
            "source_project_id": mr.source_project_id or mr.project_id,
            "target_project_id": mr.project_id,
            "sha": mr.sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": None,
            "draft": False,
            "labels": list(mr.labels),  # names: the API's default (`with_labels_details=false`)
            "detailed_merge_status": mr.detailed_merge_status if mr.state == "opened" else "not_open",
            "web_url": f"{self.origin}/{project.path}/-/merge_requests/{mr.iid}",
        }

    def _merge_request_list(self, request: Request, project: FakeGitLabProject) -> Response:
        wanted = request.query_params.get("state", "all")
        with self._lock:
            found = sorted(
                (
                    mr
                    for mr in self.merge_requests.values()
                    if mr.project_id == project.id and wanted in (mr.state, "all")
                ),
                key=lambda mr: -mr.iid,
            )
        return _paged(request, [self._merge_request_json(mr) for mr in found])

    def _merge_request_answer(self, project: FakeGitLabProject, iid: int, *, approvals: bool) -> Response:
        mr = self.merge_requests.get((project.id, iid))
        if mr is None:
            return _message("404 Not found", 404)
        if not approvals:
            return JSONResponse(self._merge_request_json(mr))
        approvers = [{"user": self._user_json(name)} for name in mr.approved_by]
        return JSONResponse(
            {
                "id": mr.iid + 900_000,
                "iid": mr.iid,
                "project_id": project.id,
                "approved": bool(approvers),
                "approvals_required": 0,
                "approvals_left": 0,
                "approved_by": approvers,
            }
        )

    def _member(self, project: FakeGitLabProject, user_id: int) -> Response:
        username = next((name for name, ident in self.users.items() if ident == user_id), None)
        if username is None or username not in project.members:
            return _message("404 Not found", 404)
        return JSONResponse({**self._user_json(username), "access_level": project.members[username]})
