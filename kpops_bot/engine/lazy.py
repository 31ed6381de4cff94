"""Render pools started by their first render, one per kpops release in use.

A run whose every target is cached starts no kpops process. A repository pinning another kpops than the bot's
gets the fork server of that release's environment (built first when missing: the waiting job hears it through
`on_wait`); all are sandboxed alike. The bot's jobs share one `LazyPool` and each listens through a view of its
own (`heard_by`), so the job that waits, and only it, says so (its commit status). A build that failed is not
tried again for `FAILED_BUILD_REMEMBERED` seconds: the other pipelines of the run get the same error at once instead
of one build each, and a later run (after an index outage, say) builds again. The fork server of a release other
than the bot's own that rendered nothing for `kpops_idle_minutes` is stopped when a render next asks for a pool
(a fork server with its helm service holds about 160 MiB; a repository that tried a release once must not keep it
for the bot's lifetime); a later render of that release starts it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType

from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.model.render import ErrorKind, PipelineRender, RenderError
from kpops_bot.versions.environments import EnvironmentBuildError, EnvironmentStore
from kpops_bot.versions.index import Resolved, WaitListener, bot_kpops_version
from kpops_bot.versions.releases import KpopsReleases

_DAY = 86400.0
FAILED_BUILD_REMEMBERED = 60.0


def kpops_releases(settings: EngineSettings, default_folder: Path) -> KpopsReleases:
    """Version selection as the settings say; environments unused for `kpops_unused_days` are removed first."""
    supported = settings.supported_kpops()
    folder = settings.kpops_environments or default_folder
    store = EnvironmentStore(
        folder,
        index_url=settings.kpops_index_url,
        supported=supported,
        sandbox=settings.sandbox,
        sandbox_uid=settings.sandbox_uid,
    )
    releases = KpopsReleases(
        store, index_url=settings.kpops_index_url, offline=settings.kpops_offline, supported=supported
    )
    releases.prune(settings.kpops_unused_days * _DAY)
    return releases


class LazyPool:
    """What `render_targets` needs of a pool (settings, `kpops_release`, `submit`), a real pool per release."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        checkouts: Sequence[Path] = (),
        hidden: Sequence[Path] = (),
        releases: KpopsReleases | None = None,
        on_wait: WaitListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._checkouts = checkouts  # where the renders' checkouts are made: each sees only its own
        self._hidden = hidden
        self._releases = releases
        self._on_wait = on_wait
        self._resolved: dict[str, Resolved] = {}
        self._pools: dict[str, RenderPool] = {}
        self._failed: dict[str, tuple[float, EnvironmentBuildError]] = {}  # release → (when, why)
        self._last_used: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self._warm_started = threading.Event()  # the warm-up tried to start its pool (done or failed)
        self._closed = threading.Event()

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
        return bool(self._pools)

    @property
    def releases_started(self) -> list[str]:
        """The kpops releases whose fork server runs."""
        with self._lock:
            return list(self._pools)

    @property
    def chart_caches(self) -> list[Path]:
        """The chart archive caches of the started pools (only their helm services touch them)."""
        with self._lock:
            return [pool.chart_cache for pool in self._pools.values()]

    def kpops_release(self, files: Sequence[str], read: Callable[[str], str | None]) -> str:
        """The release that renders a revision with these files (the bot's own without version selection)."""
        if self._releases is None:
            return bot_kpops_version()
        resolved = self._releases.release_for(files, read)
        with self._lock:
            self._resolved[str(resolved.version)] = resolved
        return str(resolved.version)

    def heard_by(self, on_wait: WaitListener) -> ListenedPool:
        """This pool for one job that hears, instead of the pool's own listener, when it waits for a build."""
        return ListenedPool(self, on_wait)

    def warm_up(self) -> None:
        """Start the pool of the bot's own kpops now, in the background, for a caller that is about to render.

        Probing the sandbox, starting the helm service and the fork server's import of kpops take most of a
        second; meanwhile the caller does its git and cache work, and a render it then finds missing starts at
        once. Another release is known only from a revision's files, so only the bot's own is warmed. A pool that
        renders nothing costs a fork server killed by `close`; one that fails to start is started again (and
        fails the same way, for the caller to hear) on the first render.
        """
        release = bot_kpops_version()
        with self._lock:
            if self._warming is not None or release in self._pools:
                return
            self._warming = threading.Thread(
                target=self._start_own, args=(release,), name="render-pool-warm-up", daemon=True
            )
            self._warming.start()

    def _start_own(self, release: str) -> None:
        pool = RenderPool(self._settings, checkouts=self._checkouts, hidden=self._hidden)
        try:
            pool.launch()
        except Exception:  # the first render starts it again and reports why it failed
            pool.close()
            return
        else:
            with self._lock:  # before anyone waiting for the warm-up looks
                self._pools[release] = pool
        finally:
            self._warm_started.set()
        # bubblewrap's --die-with-parent follows the thread that started it, not the process: this thread stays
        # until the pool is closed, or the fork server would die with it.
        self._closed.wait()

    def _warmed(self) -> None:
        """Wait for a warm-up under way to launch its pool (well before the fork server is ready)."""
        with self._lock:
            warming = self._warming
        if warming is not None:
            self._warm_started.wait()

    def submit(self, request: RenderRequest, on_wait: WaitListener | None = None) -> Future[PipelineRender]:
        release = request.kpops_version or bot_kpops_version()
        try:
            pool = self._pool(release, on_wait or self._on_wait)
        except EnvironmentBuildError as error:
            failed: Future[PipelineRender] = Future()
            failed.set_result(_not_rendered(request, release, str(error)))
            return failed
        try:
            future = pool.submit(request)
        except BaseException:
            self._finished(release)
            raise
        future.add_done_callback(lambda _done: self._finished(release))
        return future

    def rest(self) -> None:
        """Nothing is left to render for now: the warmed-up pool, if it rendered nothing, is closed, so that its
        fork server (still importing kpops) and helm service leave the second CPU to the diffs that follow; a later
        render starts a pool again."""
        self._warmed()
        own = bot_kpops_version()
        with self._lock:
            if self._warming is None or self._in_flight.get(own) or own in self._last_used:
                return
            pool = self._pools.pop(own, None)
        if pool is not None:
            pool.close()

    def _finished(self, release: str) -> None:
        with self._lock:
            self._in_flight[release] -= 1
            self._last_used[release] = self._clock()

    def _stop_idle(self, wanted: str) -> None:
        """Close the pools of other releases than the bot's own and `wanted` that rendered nothing for a while."""
        idle_for = self._settings.kpops_idle_minutes * 60
        own = bot_kpops_version()
        with self._lock:
            idle = [
                release
                for release in self._pools
                if release not in (own, wanted)
                and not self._in_flight.get(release)
                and self._clock() - self._last_used.get(release, self._clock()) >= idle_for
            ]
            stopped = [self._pools.pop(release) for release in idle]
        for pool in stopped:
            pool.close()

    def _pool(self, release: str, on_wait: WaitListener | None) -> RenderPool:
        self._warmed()
        self._stop_idle(release)
        with self._lock:
            pool = self._pools.get(release)
            resolved = self._resolved.get(release)
            failed = self._failed.get(release)
            if pool is not None:  # counted in the lock that found it: `_stop_idle` never closes it under a render
                self._in_flight[release] = self._in_flight.get(release, 0) + 1
                return pool
        if failed is not None and self._clock() - failed[0] < FAILED_BUILD_REMEMBERED:
            raise failed[1]
        environment = None
        if self._releases is not None and resolved is not None:
            try:
                environment = self._releases.environment(resolved, on_wait)  # outside the lock: builds take a while
            except EnvironmentBuildError as error:
                with self._lock:
                    self._failed[release] = (self._clock(), error)
                raise
        with self._lock:
            if release not in self._pools:
                pool = RenderPool(self._settings, checkouts=self._checkouts, hidden=self._hidden, kpops=environment)
                pool.start()
                self._pools[release] = pool
            self._in_flight[release] = self._in_flight.get(release, 0) + 1
            return self._pools[release]

    def close(self) -> None:
        self._warmed()
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            warming = self._warming
        for pool in pools:
            pool.close()
        self._closed.set()
        if warming is not None:
            warming.join()


class ListenedPool:
    """A `LazyPool` as one job sees it (a `Renderer`): the pools are shared, the listener is the job's."""

    def __init__(self, pool: LazyPool, on_wait: WaitListener) -> None:
        self._pool = pool
        self._on_wait = on_wait

    @property
    def settings(self) -> EngineSettings:
        return self._pool.settings

    def kpops_release(self, files: Sequence[str], read: Callable[[str], str | None]) -> str:
        return self._pool.kpops_release(files, read)

    def submit(self, request: RenderRequest) -> Future[PipelineRender]:
        return self._pool.submit(request, self._on_wait)

    def rest(self) -> None:
        """The pools are shared by the server's jobs and kept warm for the next one."""


def _not_rendered(request: RenderRequest, release: str, message: str) -> PipelineRender:
    return PipelineRender(
        name=request.pipeline,
        pipeline_file=request.pipeline_file,
        revision=request.revision,
        environment=request.environment,
        mode=request.mode,
        operation=request.operation,
        kpops_version=release,
        error=RenderError(message=message, kind=ErrorKind.CONFIG),
    )
