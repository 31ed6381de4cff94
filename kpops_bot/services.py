"""What the workflows share in a running bot: settings, store, forge clients, git workspace, render pools, cache,
and the narrow collaborators (`kpops_bot.workflows.ports`) built from them: the adapters (`kpops_bot.adapters`) are
made here and nowhere else, so the workflows never import one."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from kpops_bot.adapters.deployment import GitDeploymentRepository
from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.lazy import LazyPool, kpops_releases
from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.github import GitHubClient
from kpops_bot.forges.gitlab import GitLabClient
from kpops_bot.forges.retry import RetryPolicy
from kpops_bot.locks import Locks, RequeuingLocks
from kpops_bot.managed import Isolation
from kpops_bot.model.forge import ForgeClient, ForgeError
from kpops_bot.sandbox.layers import Layer, Sandbox, choose
from kpops_bot.settings import BotSettings
from kpops_bot.store import Store
from kpops_bot.versions.index import WaitListener
from kpops_bot.versions.releases import KpopsReleases
from kpops_bot.workspace import Workspace


class ForgeClients:
    """One client per configured forge, made on first use."""

    def __init__(self, settings: BotSettings, retry: RetryPolicy | None = None) -> None:
        self._settings = settings
        self._retry = retry
        self._clients: dict[Forge, ForgeClient] = {}
        self._lock = threading.Lock()

    def get(self, forge: Forge) -> ForgeClient:
        with self._lock:
            if forge not in self._clients:
                self._clients[forge] = self._make(forge)
            return self._clients[forge]

    def _make(self, forge: Forge) -> ForgeClient:
        if forge is Forge.GITHUB:
            if not self._settings.github.can_write:
                raise ForgeError("GitHub is not configured: set github.token or github.app_id and its key")
            return GitHubClient(self._settings.github, self._retry)
        if not self._settings.gitlab.can_write:
            raise ForgeError("GitLab is not configured: set gitlab.token")
        return GitLabClient(self._settings.gitlab, self._retry)


class RenderPools:
    """The render pool for trusted pull requests, and one without secret variables for forks (made when needed).

    Renders see checkouts of the workspace only, and never `hidden` (the data folder, the settings file).
    """

    def __init__(self, settings: BotSettings, checkouts: Path, hidden: list[Path]) -> None:
        self._settings = settings
        self._checkouts = checkouts
        self._hidden = hidden
        self._pools: dict[bool, LazyPool] = {}
        self._lock = threading.Lock()
        self._releases: KpopsReleases | None = None

    def get(self, *, trusted: bool) -> LazyPool:
        """The pools of this trust, one fork server per kpops release in use (started on its first render)."""
        with self._lock:
            if self._releases is None:
                self._releases = kpops_releases(self._settings, self._settings.data_dir / "kpops-environments")
            if trusted not in self._pools:
                engine = self._settings.engine(trusted=trusted)
                self._pools[trusted] = LazyPool(
                    engine, checkouts=[self._checkouts], hidden=self._hidden, releases=self._releases
                )
            return self._pools[trusted]

    @property
    def started(self) -> list[bool]:
        """Which pools run: True for the trusted one, False for the one for forks."""
        with self._lock:
            return [trusted for trusted, pool in self._pools.items() if pool.started]

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


@dataclass
class Services:
    settings: BotSettings
    store: Store
    forges: ForgeClients
    workspace: Workspace
    pools: RenderPools
    sandbox: Sandbox | None  # None: this replica renders nothing (concurrency 0)
    hidden: list[Path] = field(default_factory=list)  # the bot's own files: never visible in a sandbox
    cache: RenderCache = field(init=False)
    locks: Locks = field(init=False)
    lock_book: RequeuingLocks = field(init=False)

    def __post_init__(self) -> None:
        self.cache = RenderCache(self.settings.data_dir / "render-cache", self.settings.render_cache_bytes)
        self.locks = Locks(self.store)
        self.lock_book = RequeuingLocks(self.locks, self.store)

    def diff(
        self,
        request: DiffRequest,
        options: DiffOptions,
        *,
        trusted: bool,
        git_env: dict[str, str],
        on_wait: WaitListener | None = None,
    ) -> DiffReport:
        """The dry run in the render pool for the pull request's trust; `on_wait` hears when this job waits for
        the environment of a kpops release (the pools are shared, the listener is this job's)."""
        pool = self.pools.get(trusted=trusted)
        renderer = pool.heard_by(on_wait) if on_wait is not None else pool
        return diff_revisions(self.workspace, renderer, request, options, self.cache, git_env=git_env)

    def open_repository(self, repository: Repository, client: ForgeClient) -> GitDeploymentRepository:
        cached = self.workspace.repository(repository.clone_url, git_env=client.git_env(repository))
        return GitDeploymentRepository(
            cached,
            self.settings,
            lambda trusted: self.pools.get(trusted=trusted),
            self.cache,
            self.managed_isolation(),
        )

    @classmethod
    def create(
        cls, settings: BotSettings, retry: RetryPolicy | None = None, config_file: Path | None = None
    ) -> Services:
        """Raises SandboxUnavailableError when this replica would render and no sandbox works (unless `off`)."""
        sandbox = choose(settings.sandbox, settings.sandbox_uid) if settings.concurrency else None
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.database)
        store.migrate()
        workspace = Workspace(settings.data_dir / "workspace")
        _keep_private(settings.data_dir, workspace)
        hidden = [settings.data_dir.resolve(), *([config_file.resolve()] if config_file else [])]
        return cls(
            settings=settings,
            store=store,
            forges=ForgeClients(settings, retry),
            workspace=workspace,
            pools=RenderPools(settings, workspace.root / "checkouts", hidden),
            sandbox=sandbox,
            hidden=hidden,
        )

    @property
    def unsandboxed(self) -> bool:
        """`sandbox: off` was set: pull request code runs with the bot's own rights."""
        return self.sandbox is not None and self.sandbox.explicit_off

    def managed_isolation(self) -> Isolation:
        layer = self.sandbox.layer if self.sandbox is not None else Layer.OFF
        return Isolation(layer, self.settings.sandbox_uid, self.hidden)

    def close(self) -> None:
        self.pools.close()
        self.store.close()


def _keep_private(data_dir: Path, workspace: Workspace) -> None:
    """The bot's files are its own: renders that run as other uids (the `uid` sandbox) reach their checkout, by
    its unguessable name, and nothing else (not the database, the mirrors or the render cache)."""
    for folder in (data_dir, workspace.root, workspace.root / "checkouts"):
        folder.chmod(0o711)
    for private in (workspace.root / "mirrors", data_dir / "render-cache"):
        private.mkdir(parents=True, exist_ok=True)
        private.chmod(0o700)
    for database in data_dir.glob("kpops-bot.db*"):
        database.chmod(0o600)
