"""What the fake GitHub and GitLab share: a bare repository per project, injected faults, a request log."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

T = TypeVar("T")


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outage:
    """Every request answered `status` for `seconds` of `clock`, from when a write matching `after` is stored."""

    after: str  # a regular expression for the write's path
    seconds: float
    status: int
    clock: Callable[[], float]
    until: float | None = None  # set when the write is stored


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int


class FaultPlan:
    """Answers the next requests with errors (a forge having a bad minute), then normally again."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.slow: dict[str, float] = {}  # path pattern → seconds a matching write waits before it is done
        # path pattern → seconds the answer to a matching write waits after the write is stored (a forge that
        # stored a comment but answered too late for a bot killed meanwhile); patterns are regular expressions
        self.late: dict[str, float] = {}
        self._outage: Outage | None = None

    def delay_for(self, method: str, path: str) -> float:
        return _matching(self.slow, method, path)

    def fail_after_write(
        self, pattern: str, seconds: float, *, status: int = 502, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Once a write whose path matches `pattern` is stored, answer every request (reads too) with `status` for
        `seconds` as `clock` counts them: a forge that stored a comment and then has a bad minute. With `late`, the
        stored write's own answer is held too. A test's clock can be the one its retry policy's sleep advances."""
        with self._lock:
            self._outage = Outage(pattern, seconds, status, clock)

    def _stored(self, method: str, path: str, status: int) -> None:
        with self._lock:
            outage = self._outage
            if outage is None or outage.until is not None or method == "GET" or status >= 300:
                return
            if re.search(outage.after, path):
                outage.until = outage.clock() + outage.seconds

    def _down(self) -> Fault | None:
        with self._lock:
            outage = self._outage
        if outage is None or outage.until is None:
            return None
        if outage.clock() < outage.until:
            return Fault(outage.status)
        with self._lock:
            self._outage = None
        return None

    async def answer_late(self, method: str, path: str, status: int = 200) -> None:
        """Hold the answer to a stored write while `late` says so (cleared: answered at once); a stored write
        `fail_after_write` waits for starts its outage."""
        self._stored(method, path, status)
        deadline = time.monotonic() + _matching(self.late, method, path)
        while time.monotonic() < deadline and _matching(self.late, method, path):
            await asyncio.sleep(0.05)

    def add(self, status: int, count: int = 1, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._faults += [Fault(status, dict(headers or {})) for _ in range(count)]

    def next(self) -> Fault | None:
        down = self._down()
        if down is not None:
            return down
        with self._lock:
            return self._faults.pop(0) if self._faults else None


def _matching(delays: dict[str, float], method: str, path: str) -> float:
    if method == "GET":
        return 0.0
    return max((seconds for pattern, seconds in dict(delays).items() if re.search(pattern, path)), default=0.0)


def git_file(bare: Path, ref: str, path: str) -> bytes | None:
    """A file of a bare repository at a ref, or None."""
    result = subprocess.run(["git", "--git-dir", str(bare), "show", f"{ref}:{path}"], capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else None


def fault_response(fault: Fault) -> Response:
    messages = {429: "API rate limit exceeded", 502: "Server Error", 503: "Service Unavailable"}
    return JSONResponse({"message": messages.get(fault.status, "error")}, fault.status, headers=fault.headers)


def page_of(
    request: Request, items: Sequence[T], default_per_page: int, max_per_page: int
) -> tuple[list[T], int, int, int]:
    """Items of the requested page; the page, its size and the last page number."""
    per_page = min(int(request.query_params.get("per_page", default_per_page)), max_per_page)
    page = max(int(request.query_params.get("page", 1)), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    return list(items[(page - 1) * per_page : page * per_page]), page, per_page, last


def page_url(request: Request, page: int) -> str:
    """The request's own URL (host included, as a forge answers) for another page."""
    query = dict(request.query_params)
    query["page"] = str(page)
    encoded = "&".join(f"{key}={value}" for key, value in query.items())
    return f"{request.url.scheme}://{request.url.netloc}{request.scope['raw_path'].decode()}?{encoded}"


def link_header(request: Request, page: int, last: int) -> str:
    links = []
    if page < last:
        links += [f'<{page_url(request, page + 1)}>; rel="next"', f'<{page_url(request, last)}>; rel="last"']
    if page > 1:
        links += [f'<{page_url(request, page - 1)}>; rel="prev"', f'<{page_url(request, 1)}>; rel="first"']
    return ", ".join(links)
