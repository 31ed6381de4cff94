"""The bot put together: HTTP front, store, worker and workflows, with one lifecycle."""

from __future__ import annotations

import functools
import gc
import logging
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette

from kpops_bot import metrics, overview
from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.retry import RetryPolicy
from kpops_bot.jobs import JobKind
from kpops_bot.masking import mask_server_logs
from kpops_bot.model.forge import ForgeError
from kpops_bot.server.app import create_app
from kpops_bot.server.intake import LocalIntake
from kpops_bot.server.intake_channel import ChannelServer
from kpops_bot.server.intake_log import IntakeLog
from kpops_bot.server.intake_process import APP, CHANNEL
from kpops_bot.server.intake_processes import IntakeProcesses, run_folder
from kpops_bot.server.schedule import DriftClock
from kpops_bot.services import Services
from kpops_bot.settings import BotSettings
from kpops_bot.worker import JobHandler, Worker, WorkerOptions
from kpops_bot.workflows.apply import ApplyWorkflow
from kpops_bot.workflows.close import CloseWorkflow
from kpops_bot.workflows.commands import CommandWorkflow
from kpops_bot.workflows.drift import DriftWorkflow
from kpops_bot.workflows.ports import DiffRunner, ForgeFor
from kpops_bot.workflows.preview import PreviewWorkflow

logger = logging.getLogger(__name__)
_SWEEP_SECONDS = 3600.0
# Per forge: its name and the settings that give the bot its credentials there.
_FORGE_CREDENTIALS = {
    Forge.GITHUB: ("GitHub", "set github.token, or github.app_id and its private key"),
    Forge.GITLAB: ("GitLab", "set gitlab.token"),
}
_DRIFT_TICK_SECONDS = 30.0


class Bot:
    def __init__(
        self, settings: BotSettings, retry: RetryPolicy | None = None, config_file: Path | None = None
    ) -> None:
        self.settings = settings
        self.services = Services.create(settings, retry, config_file)
        self._stopping = threading.Event()
        self.drift_clock = DriftClock(settings.drift, self.services.store.enqueue)
        self.worker = Worker(
            self.services.store,
            workflows(self.services),
            WorkerOptions(
                concurrency=settings.concurrency,
                lease_seconds=settings.lease_seconds,
                max_attempts=settings.max_attempts,
                retry_delay=settings.retry_delay,
                poll_interval=settings.poll_interval,
                replica_id=settings.replica,
                heartbeat_seconds=settings.heartbeat_seconds,
                dead_after=settings.replica_timeout,
                transient_max_delay=settings.transient_max_delay,
                stuck_after=settings.worker_stuck_after,
            ),
        )
        sandbox = self.services.sandbox
        self.intake_log = IntakeLog()
        self.app: Starlette = create_app(
            settings,
            self.services.store,
            self.worker.poll_now,
            self._lifespan,
            {"sandbox": sandbox.layer.value if sandbox else "none (this replica renders nothing)"},
            self.intake_log,
            self.worker.health,
        )
        self._intake_run: tuple[socket.socket, Path] | None = None  # listener and folder, with intake processes
        self.intake_processes: IntakeProcesses | None = None

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        mask_server_logs(self.settings.secrets_masker())
        unwatch_store = metrics.watch_store(functools.partial(overview.gauges, self.services.store))
        self.worker.start()
        sweeper = threading.Thread(target=self._sweep_workspace, name="workspace-sweeper", daemon=True)
        sweeper.start()
        drift = threading.Thread(target=self._drift_checks, name="drift-clock", daemon=True)
        drift.start()
        # Asks the forge about every repository with locks: in the background, so a slow forge delays no webhook.
        threading.Thread(target=self._reconcile_locks_once, name="reconcile-locks", daemon=True).start()
        threading.Thread(target=self.check_forges, name="check-forges", daemon=True).start()
        channel = await self._start_intake_processes()
        logger.info("kpops-bot ready: %d worker(s), store %s", self.settings.concurrency, _safe_url(self.services))
        sandbox = self.services.sandbox
        if sandbox is not None and sandbox.explicit_off:
            logger.warning("%s: every preview's status says so", sandbox.describe())
        elif sandbox is not None:
            logger.info("renders run in the %s", sandbox.describe())
        try:
            yield
        finally:
            if self.intake_processes is not None:
                self.intake_processes.stop()
            if channel is not None:
                await channel.close()
            self._stopping.set()
            self.worker.stop()
            sweeper.join()
            drift.join()
            unwatch_store()
            self.services.close()

    def _drift_checks(self) -> None:
        """Queue each configured drift check when due (looked at every `_DRIFT_TICK_SECONDS`)."""
        if not self.settings.drift:
            return
        while True:
            try:
                self.drift_clock.tick(time.time())
            except SQLAlchemyError:
                logger.exception("queueing drift checks failed")
            if self._stopping.wait(_DRIFT_TICK_SECONDS):
                return

    def _sweep_workspace(self) -> None:
        """At start and every hour: mirrors unused for `mirror_days` and checkouts of dead processes go."""
        while True:
            self.sweep_workspace()
            if self._stopping.wait(_SWEEP_SECONDS):
                return

    def sweep_workspace(self) -> None:
        workspace = self.services.workspace
        try:
            mirrors = workspace.prune_mirrors(self.settings.mirror_days * 86400)
            checkouts = workspace.prune_checkouts()
        except OSError:
            logger.exception("sweeping the workspace failed")
            return
        metrics.workspace_pruned.labels("mirror").inc(len(mirrors))
        metrics.workspace_pruned.labels("checkout").inc(len(checkouts))
        if mirrors or checkouts:
            logger.info("workspace: removed %d unused mirror(s), %d orphaned checkout(s)", len(mirrors), len(checkouts))

    def _reconcile_locks_once(self) -> None:
        try:
            self.reconcile_locks()
        except SQLAlchemyError as error:  # the next start tries again; a lock a closed pull request holds waits
            logger.warning("locks not reconciled, the store is unavailable: %s", str(error).splitlines()[0])

    def check_forges(self) -> None:
        """One line per forge the bot is set up for: whose credentials the forge accepted, or which are missing or
        refused and why (the forge's own words, the URL), so a wrong token is seen at start, not at the first
        pull request."""
        configured = {Forge.GITHUB: self.settings.github.can_write, Forge.GITLAB: self.settings.gitlab.can_write}
        for forge, (name, keys) in _FORGE_CREDENTIALS.items():
            if not configured[forge]:
                if self.settings.webhook_secret(forge):
                    logger.error("forge credentials: %s has a webhook secret but no credentials (%s)", name, keys)
                continue
            try:
                who = self.services.forges.get(forge).check_credentials()
            except ForgeError as error:
                logger.log(logging.WARNING if error.transient else logging.ERROR, "forge credentials: %s", error)
            else:
                logger.info("forge credentials: %s accepted %s", name, who)

    def reconcile_locks(self) -> None:
        """Release what pull requests closed while the bot was down still hold; wake who waited for it."""
        for key in self.services.locks.repositories():
            forge_name, _, full_name = key.partition(":")
            repository = Repository(Forge(forge_name), full_name, clone_url="")
            try:
                open_numbers = self.services.forges.get(repository.forge).open_pull_requests(repository)
            except ForgeError as error:
                logger.warning("locks of %s not reconciled: %s", full_name, error)
                continue
            self.services.lock_book.reconcile(key, open_numbers)

    async def _start_intake_processes(self) -> ChannelServer | None:
        """With intake processes: the channel they store through, then the processes on the listening socket."""
        if self._intake_run is None:
            return None
        listener, run_dir = self._intake_run
        local = LocalIntake(self.services.store, self.intake_log, self.worker.poll_now)
        channel = ChannelServer(run_dir / CHANNEL, local)
        await channel.start()
        self.intake_processes = IntakeProcesses(
            self.settings.intake_processes, listener, run_dir, self.settings.handed_down()
        )
        self.intake_processes.start()
        host, port = listener.getsockname()[:2]
        logger.info("taking webhooks on %s:%d in %d intake processes", host, port, self.settings.intake_processes)
        return channel

    def serve(self) -> None:
        """Listen on host:port in this process; or, with intake processes, bind the port for them and answer what
        they forward (status page, metrics, readiness) on a socket in a folder only the bot's user can open."""
        # Everything loaded so far lives as long as the process: the collector's full passes leave it alone
        # (one pass over it takes about 90 ms, a stall every answer waiting meanwhile pays: `bench/gc_pause.py`).
        gc.freeze()
        # log_config None: uvicorn's loggers propagate to the root handler, in the configured format, masked.
        options: dict[str, Any] = {"log_level": "info", "log_config": None, "access_log": self.settings.access_log}
        if not self.settings.intake_processes:
            uvicorn.run(self.app, host=self.settings.host, port=self.settings.port, **options)
            return
        host = self.settings.host
        listener = socket.create_server(
            (host, self.settings.port), family=socket.AF_INET6 if ":" in host else socket.AF_INET, backlog=2048
        )
        run_dir = run_folder()
        self._intake_run = (listener, run_dir)
        options["access_log"] = False  # the intake processes log every request on the port, forwarded ones too
        try:
            uvicorn.run(self.app, uds=str(run_dir / APP), **options)
        finally:
            listener.close()
            shutil.rmtree(run_dir, ignore_errors=True)


def workflows(
    services: Services, *, forges: ForgeFor | None = None, diff: DiffRunner | None = None
) -> dict[JobKind, JobHandler[Any]]:
    """Each job kind's workflow, with the collaborators it needs and no more (`forges` and `diff` to observe them)."""
    settings = services.settings
    forges = forges or services.forges.get
    diff = diff or services.diff
    return {
        JobKind.PREVIEW: PreviewWorkflow(
            settings, forges, diff, services.store.newer, unsandboxed=services.unsandboxed
        ),
        JobKind.CLOSE: CloseWorkflow(forges, services.lock_book),
        JobKind.COMMAND: CommandWorkflow(
            settings, forges, diff, services.lock_book, services.open_repository, services.store.record_head
        ),
        JobKind.APPLY: ApplyWorkflow(settings, forges, services.open_repository, services.lock_book, diff),
        JobKind.DRIFT: DriftWorkflow(settings, forges, services.open_repository),
    }


def _safe_url(services: Services) -> str:
    return services.store.engine.url.render_as_string(hide_password=True)
