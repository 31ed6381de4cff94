"""An intake process: takes webhooks on the bot's port beside its siblings and passes everything else on.

The bot's process binds the port and hands the listening socket down (`intake_processes`); the processes accept
from it in turn, so checking signatures, parsing JSON and routing use as many cores as there are processes, and
the jobs the bot's process runs never slow an answer to a forge. Storing a delivery and counting the answer happen
in the bot's process, over the intake channel (`server.intake_channel`): one writer, batches shared by all. Every
other path (status page, metrics, readiness, liveness: the workers live there) is forwarded to the bot's process,
which answers on a private socket: each request alone, with only its own headers (no cookie jar: one client's status
cookie must not answer another's request), and with a small body (the bot's process serves no forwarded route that
reads one; a large upload must not grow this process).
The process reads its settings from standard input and ends when the bot's process closes the channel.

    python -m kpops_bot.server.intake_process --listen-fd N --run-dir DIR < settings
"""

from __future__ import annotations

import argparse
import gc
import logging
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kpops_bot import logs
from kpops_bot.masking import mask_server_logs
from kpops_bot.server.app import WebhookReceiver
from kpops_bot.server.intake_channel import ChannelIntake
from kpops_bot.settings import BotSettings

CHANNEL = "intake.sock"
APP = "app.sock"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Headers of one hop's connection, not of the request or the answer (and those this process's server writes).
_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te", b"trailer", b"content-length", b"host"}
_NOT_FORWARDED_BACK = _HOP | {b"date", b"server"}
FORWARDED_BODY_LIMIT = 64 * 1024
_FORWARD_TIMEOUT = httpx.Timeout(60)


class _TooLarge(Exception):
    pass


class Forwarder:
    """Answers a request with what the bot's process answers to it (on its private socket)."""

    def __init__(self, app_socket: Path) -> None:
        # The transport, not a client: a client keeps the cookies its answers set and sends them with every later
        # request, whoever makes it.
        self._transport = httpx.AsyncHTTPTransport(uds=str(app_socket))

    async def close(self) -> None:
        await self._transport.aclose()

    async def answer(self, request: Request) -> Response:
        try:
            body = await _bounded_body(request)
        except _TooLarge:
            return JSONResponse({"error": f"body larger than {FORWARDED_BODY_LIMIT} bytes"}, 413)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(name, value) for name, value in request.headers.raw if name.lower() not in _HOP]
        outgoing = httpx.Request(
            request.method,
            f"http://kpops-bot{target}",
            headers=headers,
            content=body,
            extensions={"timeout": _FORWARD_TIMEOUT.as_dict()},
        )
        try:
            upstream = await self._transport.handle_async_request(outgoing)
        except httpx.HTTPError:
            return _not_answering()
        try:
            content = await upstream.aread()
        except httpx.HTTPError:
            return _not_answering()
        finally:
            await upstream.aclose()
        response = Response(content, upstream.status_code)
        response.raw_headers = [
            *((name, value) for name, value in upstream.headers.raw if name.lower() not in _NOT_FORWARDED_BACK),
            (b"content-length", str(len(content)).encode()),
        ]
        return response


def _not_answering() -> Response:
    return JSONResponse({"error": "the bot's process is not answering; try again shortly"}, 503)


async def _bounded_body(request: Request) -> bytes:
    """The request's body, read no further than the limit (a declared length above it is refused unread)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > FORWARDED_BODY_LIMIT:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > FORWARDED_BODY_LIMIT:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_intake_app(settings: BotSettings, intake: ChannelIntake, forward: Forwarder) -> Starlette:
    receiver = WebhookReceiver(settings, intake)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await intake.connect()
        try:
            yield
        finally:
            await intake.close()
            await forward.close()

    routes = [
        Route("/webhooks/github", receiver.github, methods=["POST"]),
        Route("/webhooks/gitlab", receiver.gitlab, methods=["POST"]),
        Route("/{path:path}", forward.answer, methods=_METHODS),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    arguments = parser.parse_args()
    settings = BotSettings.received(sys.stdin.buffer.read())
    logs.configure(settings.log_format)
    # A forwarded request (readiness and liveness probes among them) is the access log's business, not a line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    mask_server_logs(settings.secrets_masker())
    listener = socket.socket(fileno=arguments.listen_fd)
    server: uvicorn.Server | None = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    intake = ChannelIntake(arguments.run_dir / CHANNEL, on_closed=stop)
    app = create_intake_app(settings, intake, Forwarder(arguments.run_dir / APP))
    config = uvicorn.Config(app, log_config=None, log_level="info", access_log=settings.access_log)
    server = uvicorn.Server(config)
    gc.freeze()  # what is loaded lives as long as the process: the collector's full passes leave it alone
    server.run(sockets=[listener])


if __name__ == "__main__":
    main()
