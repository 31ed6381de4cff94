"""The status page: what the bot is doing, for an operator, as server-rendered HTML. Read-only.

Enabled by `status_token`. The token comes as `Authorization: Bearer ...`, or once as `?token=...`: the page then
sets an HttpOnly, SameSite=Strict cookie for `/status` (Secure when the page is served over TLS) and redirects to
the address without it, so the token stays out of the address bar, the history and links. The cookie holds a value
derived from the token (HMAC), not the token: a cookie read off a browser's disk or a proxy's log opens the page
for its eight hours but is not the token, which may serve elsewhere (Bearer, other replicas' settings). Pages
carry no script (a meta refresh renews them every REFRESH_SECONDS), refuse framing and send no referrer to the
forge links. Jinja2 with autoescaping writes the HTML: every value comes from deliveries, i.e. from outside. Jobs
and deliveries are listed newest first, and a job shows how it truly ended (`JobRow.result`).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kpops_bot import overview
from kpops_bot.forges.urls import github_web_url
from kpops_bot.server.intake_log import Answered, IntakeLog
from kpops_bot.settings import BotSettings
from kpops_bot.store import Store

COOKIE = "kpops_bot_status"
_COOKIE_PURPOSE = b"kpops-bot status page cookie v1"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_templates = Environment(
    loader=PackageLoader("kpops_bot.server", "templates"), autoescape=select_autoescape(default=True)
)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    seconds = max(0, int(time.time() - timestamp))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


_templates.filters["when"] = _when
_templates.filters["ago"] = _ago
REFRESH_SECONDS = 10


@dataclass(frozen=True)
class DeliveryLine:
    """One row of the page's one deliveries table: what this replica answered, and what the store holds besides
    (stored by another replica, or before this one started: the answer is not known here)."""

    at: float
    forge: str
    event: str
    delivery_id: str
    outcome: str
    job_id: int | None
    reason: str


def delivery_lines(stored: list[overview.DeliveryRow], answered: list[Answered]) -> list[DeliveryLine]:
    """Newest first; a delivery this replica answered is listed with its answer, once per answer."""
    lines = [DeliveryLine(a.at, a.forge, a.event, a.delivery_id, a.outcome.value, a.job_id, a.reason) for a in answered]
    known = {(a.forge, a.delivery_id) for a in answered}
    lines += [
        DeliveryLine(d.received_at, d.forge, d.event, d.delivery_id, "stored", d.job_id, _ELSEWHERE)
        for d in stored
        if (d.forge, d.delivery_id) not in known
    ]
    return sorted(lines, key=lambda line: -line.at)


_ELSEWHERE = "answered by another replica, or before this one started"


class StatusPage:
    def __init__(self, settings: BotSettings, store: Store, intake_log: IntakeLog) -> None:
        token = settings.status_token
        self._token = token.get_secret_value().encode() if token is not None else None
        self._cookie = hmac.new(self._token, _COOKIE_PURPOSE, "sha256").hexdigest() if self._token else None
        self._store = store
        self._intake_log = intake_log
        self._links = overview.PullRequestLinks(github_web_url(settings.github.api_url), settings.gitlab.url)

    async def overview(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        state = await run_in_threadpool(overview.overview, self._store, self._links)
        html = _templates.get_template("status.html").render(
            state=state,
            deliveries=delivery_lines(state.deliveries, self._intake_log.newest_first()),
            now=time.time(),
            refresh=REFRESH_SECONDS,
        )
        return HTMLResponse(html, headers=_HEADERS)

    async def pull_request(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        key = request.query_params.get("key", "")
        if "#" not in key or len(key) > 400:
            return HTMLResponse("<p>Name a pull request as forge:owner/name#number.</p>", 400, headers=_HEADERS)
        timeline = await run_in_threadpool(overview.timeline, self._store, key, self._links)
        answered = [entry for entry in self._intake_log.newest_first() if entry.job_id in {j.id for j in timeline.jobs}]
        html = _templates.get_template("pull_request.html").render(
            timeline=timeline, url=self._links.url(key), answered=answered, refresh=REFRESH_SECONDS
        )
        return HTMLResponse(html, headers=_HEADERS)

    def _refusal(self, request: Request) -> Response | None:
        """None when the request may see the page; else the answer that says why not (or moves the token)."""
        if self._token is None:
            return HTMLResponse("<p>The status page is off: set status_token.</p>", 404, headers=_HEADERS)
        if self._matches(request.query_params.get("token")):
            kept = [(name, value) for name, value in request.query_params.multi_items() if name != "token"]
            redirect = RedirectResponse(request.url.path + ("?" + urlencode(kept) if kept else ""), 303)
            redirect.set_cookie(
                COOKIE,
                self._cookie or "",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/status",
                max_age=8 * 3600,
            )
            return redirect
        authorization = request.headers.get("authorization", "")
        bearer = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
        if self._matches(bearer) or self._cookie_matches(request.cookies.get(COOKIE)):
            return None
        return HTMLResponse("<p>The status page needs the status token.</p>", 401, headers=_HEADERS)

    def _cookie_matches(self, presented: str | None) -> bool:
        return (
            presented is not None
            and self._cookie is not None
            and hmac.compare_digest(presented.encode(), self._cookie.encode())
        )

    def _matches(self, presented: str | None) -> bool:
        return (
            presented is not None and self._token is not None and hmac.compare_digest(presented.encode(), self._token)
        )
