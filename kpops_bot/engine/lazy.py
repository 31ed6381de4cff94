"""A render pool started by its first render, so a run whose every target is cached starts no kpops process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType

from kpops_bot.engine.model import PipelineRender
from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings


class LazyPool:
    """What `render_targets` needs of a pool (its settings, `submit`), starting the real pool on first `submit`."""

    def __init__(self, settings: EngineSettings, *, checkouts: Sequence[Path] = ()) -> None:
        self._settings = settings
        self._checkouts = checkouts  # where the renders' checkouts are made: each sees only its own
        self._pool: RenderPool | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> LazyPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def settings(self) -> EngineSettings:
        return self._settings

    @property
    def started(self) -> bool:
        return self._pool is not None

    def submit(self, request: RenderRequest) -> Future[PipelineRender]:
        with self._lock:
            if self._pool is None:
                pool = RenderPool(self._settings, checkouts=self._checkouts)
                pool.start()
                self._pool = pool
        return self._pool.submit(request)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
