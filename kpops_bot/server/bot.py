"""The bot put together: HTTP front, store, worker and workflows, with one lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette

from kpops_bot.forges.retry import RetryPolicy
from kpops_bot.masking import mask_logs
from kpops_bot.server.app import create_app
from kpops_bot.server.routing import CLOSE, PREVIEW
from kpops_bot.services import Services
from kpops_bot.settings import BotSettings
from kpops_bot.worker import Worker, WorkerOptions
from kpops_bot.workflows.close import Close
from kpops_bot.workflows.preview import Preview

logger = logging.getLogger(__name__)


class Bot:
    def __init__(self, settings: BotSettings, retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.services = Services.create(settings, retry)
        self.worker = Worker(
            self.services.store,
            {PREVIEW: Preview(self.services), CLOSE: Close(self.services)},
            WorkerOptions(
                concurrency=settings.concurrency,
                lease_seconds=settings.lease_seconds,
                max_attempts=settings.max_attempts,
                retry_delay=settings.retry_delay,
                poll_interval=settings.poll_interval,
            ),
        )
        self.app: Starlette = create_app(settings, self.services.store, self.worker.wake, self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        masker = self.settings.diff().masker(self.settings.engine())
        for logger_with_handlers in (
            logging.getLogger(),
            logging.getLogger("uvicorn"),
            logging.getLogger("uvicorn.access"),
        ):
            mask_logs(masker, logger_with_handlers)
        self.worker.start()
        logger.info("kpops-bot ready: %d worker(s), store %s", self.settings.concurrency, _safe_url(self.services))
        try:
            yield
        finally:
            self.worker.stop()
            self.services.close()

    def serve(self) -> None:
        uvicorn.run(self.app, host=self.settings.host, port=self.settings.port, log_level="info")


def _safe_url(services: Services) -> str:
    return services.store.engine.url.render_as_string(hide_password=True)
