"""Everything the playground runs, on 127.0.0.1 free ports inside one temporary folder, stopped and removed together.

- the fake GitHub hosting `acme/deployments` (a bare repository made from the example deployment repository), where
  `alice` has write permission and the bot's token belongs to `kpops-bot`;
- the example charts served as a Helm repository, the mirror of kpops' default chart repository;
- the bot itself (`Bot`: webhook server, SQLite store, worker), in this process, configured for the fake GitHub.

The examples come with the package (a wheel carries `fixtures/deployment-repo` and `fixtures/charts` as
`kpops_bot/_playground/`, pyproject's force-include); a source checkout reads them from `fixtures/`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.model.kinds import ConnectorDeploy, HelmChoice, SandboxChoice
from kpops_bot.playground.asgi_server import ThreadedServer
from kpops_bot.playground.fake_github import FakeGitHub
from kpops_bot.playground.hooks import GitHubHooks
from kpops_bot.server.bot import Bot
from kpops_bot.settings import BotSettings, GitHubSettings

_PACKAGED = Path(__file__).resolve().parent.parent / "_playground"
_SOURCE = Path(__file__).resolve().parent.parent.parent / "fixtures"
DEFAULT_CHART_REPOSITORY = "bakdata-streams-bootstrap"  # the chart repository kpops names in its defaults
FULL_NAME = "acme/deployments"
BOT_LOGIN = "kpops-bot"  # whose the bot's token is
BOT_TOKEN = "playground-bot-token"
WEBHOOK_SECRET = "playground-webhook-secret"
ENVIRONMENT = "dev"
CONNECT_CLUSTER = "connect"  # the Strimzi KafkaConnect the connectors run on
PEOPLE = {"alice": "write", "bob": "read"}
STATUS_TOKEN = "playground-status-token"


class PortInUseError(RuntimeError):
    """A port `--port` asks for is taken: the message names it."""


def fixed_ports(port: int) -> tuple[int, int, int]:
    """The bot's port and the two after it (GitHub stand-in, charts), each checked free on 127.0.0.1."""
    ports = (port, port + 1, port + 2)
    for candidate in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError as error:
                msg = f"port {candidate} on 127.0.0.1 is taken ({error.strerror}); --port {port} uses it and two more"
                raise PortInUseError(msg) from error
    return ports


@dataclass(frozen=True)
class Examples:
    repository: Path  # a deployment repository's files
    charts: Path  # chart folders served as its chart repository


def packaged_examples() -> Examples:
    """The example deployment repository and charts: the package's copy, else the checkout's `fixtures/`."""
    folder = _PACKAGED if _PACKAGED.is_dir() else _SOURCE
    return Examples(folder / "deployment-repo", folder / "charts")


def git(*args: str, cwd: Path) -> str:
    """git as the people of the playground run it (their commits carry their names)."""
    identity = ["-c", "user.name=alice", "-c", "user.email=alice@example.com", "-c", "core.hooksPath=/dev/null"]
    completed = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return completed.stdout.strip()


class _EmbeddedSettings(BotSettings):
    """Bot settings from the given values alone (a real deployment's variables must not reach the playground)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class Stage:
    """The fake GitHub, the chart repository and the bot, started with `with` and stopped (folder removed) after."""

    def __init__(
        self, examples: Examples, sandbox: SandboxChoice = SandboxChoice.AUTO, port: int | None = None
    ) -> None:
        """`port`: the bot's, with the GitHub stand-in on the next port and the charts on the one after (`--port`,
        so a newcomer's own webhooks and bookmarks find them again); None: free ports."""
        self.examples = examples
        self.sandbox = sandbox
        self.ports = fixed_ports(port) if port is not None else None
        self.folder = Path(tempfile.mkdtemp(prefix="kpops-bot-playground-"))
        self.hosted = self.folder / "github" / f"{FULL_NAME}.git"
        self.clone = self.folder / "alice"  # alice's working copy
        self.fake = FakeGitHub(tokens={BOT_TOKEN: BOT_LOGIN})
        self._stack = ExitStack()
        self.bot: Bot | None = None
        self.charts_url = self.bot_url = ""

    def __enter__(self) -> Stage:
        try:
            self._host_repository()
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            self._stack.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def sandbox_layer(self) -> str:
        sandbox = self.bot.services.sandbox if self.bot else None
        return sandbox.describe() if sandbox else "no sandbox"

    @property
    def hooks(self) -> GitHubHooks:
        return GitHubHooks(self.fake, self.bot_url, WEBHOOK_SECRET)

    def _host_repository(self) -> None:
        shutil.copytree(self.examples.repository, self.clone)
        git("init", "-q", "-b", "main", cwd=self.clone)
        git("add", "-A", cwd=self.clone)
        git("commit", "-q", "-m", "Example deployment repository", cwd=self.clone)
        self.hosted.parent.mkdir(parents=True)
        git("clone", "-q", "--bare", str(self.clone), str(self.hosted), cwd=self.folder)
        git("remote", "add", "origin", str(self.hosted), cwd=self.clone)
        self.fake.add_repo(FULL_NAME, self.hosted, PEOPLE)

    def _start(self) -> None:
        bot_port, github_port, charts_port = self.ports or (None, None, 0)
        github = self._stack.enter_context(ThreadedServer(self.fake.asgi(), github_port))
        self.fake.origin = github.url
        charts = self._stack.enter_context(ChartServer(self.examples.charts, charts_port))
        self.charts_url = charts.url
        self.bot = Bot(self._settings())
        self.bot_url = self._stack.enter_context(ThreadedServer(self.bot.app, bot_port)).url

    @property
    def status_url(self) -> str:
        """The status page, token included once (the page moves it into a cookie)."""
        return f"{self.bot_url}/status?token={STATUS_TOKEN}"

    def _settings(self) -> BotSettings:
        """The bot's settings for this stage alone, whatever KPOPS_BOT_* variables the caller has."""
        github = GitHubSettings(
            api_url=self.fake.base_url,
            token=BOT_TOKEN,  # type: ignore[arg-type]
            webhook_secret=WEBHOOK_SECRET,  # type: ignore[arg-type]
            seconds_between_writes=0,
        )
        return _EmbeddedSettings.model_validate(
            {
                "data_dir": self.folder / "bot-data",
                "github": github,
                "environments": {"main": [ENVIRONMENT]},
                # Connectors reach the cluster too: a KafkaConnector each, for the Strimzi KafkaConnect `connect`.
                "connectors": ConnectorDeploy.STRIMZI,
                "connect_cluster": CONNECT_CLUSTER,
                "chart_mirrors": {DEFAULT_CHART_REPOSITORY: self.charts_url},
                "helm": HelmChoice.BUILTIN,
                "sandbox": self.sandbox,
                "concurrency": 1,
                "status_token": STATUS_TOKEN,
                "poll_interval": 0.1,
                "retry_delay": 0.5,
            }
        )
