"""An intake process: takes webhooks on the bot's port beside its siblings and passes everything else on.

The bot's process binds the port and hands the listening socket down (`intake_processes`); the processes accept
from it in turn, so checking signatures, parsing JSON and routing use as many cores as there are processes, and
the jobs the bot's process runs never slow an answer to a forge. Storing a delivery and counting the answer happen
in the bot's process, over the intake channel (`server.intake_channel`): one writer, batches shared by all. Every
other path (status page, metrics, readiness, liveness: the workers live there) is forwarded to the bot's process,
which answers on a private socket.
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


class Forwarder:
    """Answers a request with what the bot's process answers to it (on its private socket)."""

    def __init__(self, app_socket: Path) -> None:
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(app_socket)), base_url="http://kpops-bot", timeout=60
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def answer(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(name, value) for name, value in request.headers.raw if name.lower() not in _HOP]
        try:
            upstream = await self._client.request(request.method, target, headers=headers, content=await request.body())
        except httpx.HTTPError:
            return JSONResponse({"error": "the bot's process is not answering; try again shortly"}, 503)
        response = Response(upstream.content, upstream.status_code)
        response.raw_headers = [
            *((name, value) for name, value in upstream.headers.raw if name.lower() not in _NOT_FORWARDED_BACK),
            (b"content-length", str(len(upstream.content)).encode()),
        ]
        return response


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
