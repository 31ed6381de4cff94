"""Git's smart HTTP protocol on a fake forge's own address, as github.com and GitLab serve repositories:
`<forge>/<full name>.git/...`, answered by `git http-backend`, private (basic credentials with a token the forge
knows), clone, fetch and push. `fail` makes the next requests of a kind answer with an error (a git host having a
bad minute: a 502 from the proxy in front of it), then normally again."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
GIT_PATH = ".git/"


class GitHttp:
    """Serves the bare repository `repository(full_name)` to requests that carry a valid token."""

    def __init__(self, repository: Callable[[str], Path | None], token_valid: Callable[[str], bool]) -> None:
        self._repository = repository
        self._token_valid = token_valid
        self.requests: list[tuple[str, str]] = []  # (path, user) of every authenticated request
        self.faulted: list[tuple[str, int]] = []  # (path and query, status) of every request answered with a fault
        self._faults: list[tuple[str, int]] = []  # (pattern, status), used up in order
        self._lock = threading.Lock()

    def fail(self, status: int, count: int = 1, matching: str = "") -> None:
        """Answer the next `count` requests whose path and query match `matching` (a regular expression;
        `service=git-receive-pack`: pushes) with `status`, before anything else, as a proxy in front would."""
        with self._lock:
            self._faults += [(matching, status)] * count

    def _fault(self, request: Request) -> int | None:
        target = f"{request.url.path}?{request.url.query}"
        with self._lock:
            index = next((i for i, (pattern, _) in enumerate(self._faults) if re.search(pattern, target)), None)
            if index is None:
                return None
            status = self._faults.pop(index)[1]
            self.faulted.append((target, status))
            return status

    def __call__(self, api: ASGIApp) -> ASGIApp:
        """The forge's API with git requests (`/<name>.git/...`) answered here instead."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and GIT_PATH in scope["path"]:
                response = await self._answer(Request(scope, receive))
                await response(scope, receive, send)
            else:
                await api(scope, receive, send)

        return app

    async def _answer(self, request: Request) -> Response:
        fault = self._fault(request)
        if fault is not None:
            return PlainTextResponse("Bad Gateway" if fault == 502 else "Error", fault)
        name, _, rest = request.url.path.removeprefix("/").partition(GIT_PATH)
        bare = self._repository(name)
        if bare is None:
            return PlainTextResponse("Repository not found.", 404)
        user = self._user(request.headers.get("authorization", ""))
        if user is None:
            return PlainTextResponse("Authentication required", 401, {"WWW-Authenticate": 'Basic realm="fake forge"'})
        self.requests.append((request.url.path, user))
        body = await request.body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(bare),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": "/" + rest,
            "REQUEST_METHOD": request.method,
            "QUERY_STRING": request.url.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": request.headers.get("content-encoding", ""),
            "GIT_PROTOCOL": request.headers.get("git-protocol", ""),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
        }
        completed = await run_in_threadpool(
            subprocess.run, ["git", "http-backend"], input=body, capture_output=True, env=env, check=False
        )
        output = completed.stdout
        head, _, content = output.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers[key] = value.strip()
        return Response(content, status, headers)

    def _user(self, authorization: str) -> str | None:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, token = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if self._token_valid(token) else None
