"""The HTTP front: webhook endpoints for GitHub and GitLab, health and readiness.

A delivery is checked (size, signature, JSON, shape), turned into the bot's event, stored with its job in one
transaction and answered 202, all before any slow work. Everything a sender can get wrong gets a 4xx that says
what; a store that cannot be reached gets a 503 so the forge's redelivery can try again.

`/healthz` (liveness) fails when a worker thread is dead or stuck past `worker_stuck_after`: only a restart helps.
`/readyz` (readiness) fails while the store cannot be read, or (a replica that runs jobs) no worker thread works or
the heartbeat's last write to the store is older than `_WRITTEN_WITHIN` heartbeats (at least `_WRITTEN_FLOOR` s, so
that a busy machine's slow beat is not taken for a store that cannot be written).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kpops_bot import metrics
from kpops_bot.events import github, gitlab
from kpops_bot.events.model import Event, Forge, Ignored, MalformedEventError
from kpops_bot.events.signatures import verify_github, verify_gitlab
from kpops_bot.forges.urls import with_configured_clone_url
from kpops_bot.metrics import DeliveryOutcome
from kpops_bot.server.intake import Intake, IntakeUnavailableError, LocalIntake
from kpops_bot.server.intake_log import Answered, IntakeLog
from kpops_bot.server.routing import job_for
from kpops_bot.server.status import StatusPage
from kpops_bot.settings import BotSettings
from kpops_bot.store import Store
from kpops_bot.version import bot_version
from kpops_bot.worker import WorkerHealth

_WRITTEN_WITHIN = 3  # heartbeats: a store whose last write is older cannot be written now
_WRITTEN_FLOOR = 10.0  # seconds

logger = logging.getLogger(__name__)
# The answers an operator looks for in the log: a forge set up with the wrong secret or URL, a repository left off
# the allowlist. Queued and duplicate deliveries are in the job's own lines, /metrics and /status.
_LOGGED = {DeliveryOutcome.REFUSED: logging.WARNING, DeliveryOutcome.IGNORED: logging.INFO}


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _ForgeProtocol:
    """How one forge sends its webhooks."""

    forge: Forge
    event_header: str
    delivery_headers: tuple[str, ...]  # first present wins: the id that is stable across redeliveries
    parse: Callable[[str, str, Any], Event | Ignored]

    def authentic(self, secret: str, body: bytes, request: Request) -> bool:
        if self.forge is Forge.GITHUB:
            return verify_github(secret, body, request.headers.get("x-hub-signature-256"))
        return verify_gitlab(secret, request.headers.get("x-gitlab-token"))


_GITHUB = _ForgeProtocol(Forge.GITHUB, "x-github-event", ("x-github-delivery",), github.parse)
_GITLAB = _ForgeProtocol(
    Forge.GITLAB, "x-gitlab-event", ("idempotency-key", "x-gitlab-webhook-uuid", "x-gitlab-event-uuid"), gitlab.parse
)


class WebhookReceiver:
    def __init__(self, settings: BotSettings, intake: Intake) -> None:
        self._settings = settings
        self._intake = intake

    async def github(self, request: Request) -> Response:
        return await self._receive(request, _GITHUB)

    async def gitlab(self, request: Request) -> Response:
        return await self._receive(request, _GITLAB)

    async def _receive(self, request: Request, protocol: _ForgeProtocol) -> Response:
        forge = protocol.forge.value
        try:
            event_name, delivery, parsed = await self._check(request, protocol)
        except _Rejected as rejected:
            claimed = request.headers.get(protocol.event_header, "")[:100] or None
            delivery_id = _delivery_id(request, protocol)
            outcome, status = DeliveryOutcome.REFUSED, rejected.status
            self._answered(forge, "unknown", delivery_id, outcome, rejected.message, status=status, claimed=claimed)
            return JSONResponse({"error": rejected.message}, rejected.status)
        job = parsed if isinstance(parsed, Ignored) else job_for(parsed, self._settings)
        if isinstance(job, Ignored):
            self._answered(forge, event_name, delivery, DeliveryOutcome.IGNORED, job.reason)
            return _ignored(job.reason)
        try:
            accepted = await self._intake.accept(forge, delivery, event_name, job)
        except IntakeUnavailableError:
            self._answered(forge, event_name, delivery, DeliveryOutcome.REFUSED, "store unavailable", status=503)
            return JSONResponse({"error": "the bot's store is unavailable; redeliver later"}, 503)
        if accepted.duplicate:
            self._answered(forge, event_name, delivery, DeliveryOutcome.DUPLICATE, job_id=accepted.job_id)
            return JSONResponse({"status": "duplicate", "job": accepted.job_id}, 202)
        self._answered(forge, event_name, delivery, DeliveryOutcome.QUEUED, job_id=accepted.job_id)
        return JSONResponse({"status": "queued", "job": accepted.job_id}, 202)

    def _answered(
        self,
        forge: str,
        event: str,
        delivery: str,
        outcome: DeliveryOutcome,
        reason: str = "",
        job_id: int | None = None,
        *,
        status: int = 202,
        claimed: str | None = None,
    ) -> None:
        """Every answer to a delivery passes here (in the bot's process and in each intake process): counted, kept
        for the status page, and a refused or ignored one logged in one line that says why: what the sender sent
        (forge, event, delivery id), the HTTP status and the reason, never a secret or the body. `claimed`: a refused
        delivery's event header, logged but no metric label (an unauthenticated sender chooses it)."""
        self._intake.answered(Answered(time.time(), forge, event[:100], delivery, outcome, job_id, reason))
        level = _LOGGED.get(outcome)
        if level is None:
            return
        named = claimed or event[:100]
        logger.log(
            level,
            "%s delivery %s: %s event %r, answered %d: %s",
            outcome.value,
            delivery or "without id",
            forge,
            named,
            status,
            reason,
            extra={"forge": forge, "event": named, "delivery": delivery, "outcome": outcome.value},
        )

    async def _check(self, request: Request, protocol: _ForgeProtocol) -> tuple[str, str, Event | Ignored]:
        secret = self._settings.webhook_secret(protocol.forge)
        if secret is None and not self._settings.insecure_skip_signature:
            raise _Rejected(404, f"{protocol.forge.value} webhooks are not enabled on this bot")
        body = await _read_body(request, self._settings.max_body_bytes)
        if secret is not None and not protocol.authentic(secret, body, request):
            raise _Rejected(401, "signature or token missing or wrong")
        event_name = request.headers.get(protocol.event_header)
        if not event_name:
            raise _Rejected(400, f"missing header {protocol.event_header}")
        delivery = next((request.headers[h] for h in protocol.delivery_headers if request.headers.get(h)), None)
        if delivery is None or len(delivery) > 200:
            raise _Rejected(400, f"missing or invalid delivery id header ({protocol.delivery_headers[0]})")
        data = _decode(body)
        try:
            parsed = protocol.parse(event_name, delivery, data)
        except MalformedEventError as error:
            raise _Rejected(400, f"malformed {event_name} payload: {error}") from error
        if isinstance(parsed, Ignored):
            return event_name, delivery, parsed
        return event_name, delivery, with_configured_clone_url(parsed, self._settings)


def _delivery_id(request: Request, protocol: _ForgeProtocol) -> str:
    """The delivery id a refused delivery named, if any, as far as the status page shows it."""
    return next((request.headers[h] for h in protocol.delivery_headers if request.headers.get(h)), "")[:200]


def _decode(body: bytes) -> Any:
    """The JSON body; whatever the parser refuses (bad bytes or syntax, nesting too deep, integers with more
    digits than Python converts) is the sender's mistake and a 400 that names it."""
    try:
        return json.loads(body)
    except RecursionError as error:
        raise _Rejected(400, "body is not JSON the bot reads: nested too deeply") from error
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, the integer digit limit
        raise _Rejected(400, f"body is not JSON the bot reads: {error}") from error


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Rejected(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Rejected(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _ignored(reason: str) -> JSONResponse:
    return JSONResponse({"status": "ignored", "reason": reason}, 202)


def create_app(
    settings: BotSettings,
    store: Store,
    on_queued: Callable[[], None] = lambda: None,
    lifespan: Callable[[Starlette], Any] | None = None,
    readiness: dict[str, str] | None = None,
    intake_log: IntakeLog | None = None,
    worker_health: Callable[[], WorkerHealth] | None = None,
) -> Starlette:
    """`readiness`: facts `/readyz` adds to its answer (the effective sandbox); `worker_health`: the worker's, for
    `/healthz` and `/readyz` (none: this app runs no jobs)."""
    intake_log = intake_log or IntakeLog()
    receiver = WebhookReceiver(settings, LocalIntake(store, intake_log, on_queued))
    status = StatusPage(settings, store, intake_log)

    written_within = max(_WRITTEN_WITHIN * settings.heartbeat_seconds, _WRITTEN_FLOOR)

    async def healthz(_request: Request) -> Response:
        health = worker_health() if worker_health is not None else None
        if health is not None and not health.live:
            stuck = {"workers": health.threads, "working": health.working, "supervised": health.supervised}
            return JSONResponse({"status": "workers dead or stuck", **stuck}, 503)
        return JSONResponse({"status": "ok", "version": bot_version()})

    async def readyz(_request: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
        except Exception:  # whatever the driver raises: the store cannot be read
            return JSONResponse({"status": "store unavailable"}, 503)
        health = worker_health() if worker_health is not None else None
        if health is not None and not health.ready(written_within):
            if not health.working:
                return JSONResponse({"status": "no worker thread works"}, 503)
            return JSONResponse({"status": "store not writable", "written_ago": health.store_written_ago}, 503)
        return JSONResponse({"status": "ready", **(readiness or {})})

    async def prometheus(_request: Request) -> Response:
        return Response(await run_in_threadpool(metrics.exposition), media_type=metrics.CONTENT_TYPE)

    routes = [
        Route("/webhooks/github", receiver.github, methods=["POST"]),
        Route("/webhooks/gitlab", receiver.gitlab, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/status", status.overview, methods=["GET"]),
        Route("/status/pull", status.pull_request, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
