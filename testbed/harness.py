"""A whole bot on loopback for end-to-end tests: a fake forge, the bot's HTTP server and worker, a real repository.

Pull requests are opened and pushed to through `BotHarness`, which sends the signed deliveries the forge would.
The set-ups the scenarios share are here once: `bot_on_remote` (the bot in process, on a bare remote that its
commits reach), `harness_fixture` (that bot on both forges as a pytest fixture) and `running_replicas` (several
`kpops-bot serve` processes on one database).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from pydantic import SecretStr

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.playground.asgi_server import ThreadedServer, free_port
from kpops_bot.server.bot import Bot
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from testbed.deliveries import (
    github_comment,
    github_pull_request,
    github_push,
    gitlab_merge_request,
    gitlab_note,
    gitlab_push,
    send_github,
    send_gitlab,
)
from testbed.forges import FAST_RETRIES, GITLAB_PROJECT_ID, GitLabMergeRequests, RunningForge, running_forge
from testbed.repos import GitRepo

SECRET = "webhook-s3cret"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 240) -> T:
    deadline = time.monotonic() + timeout
    pause = 0.01  # short first, for what comes at once; then a tenth of a second, for what takes long
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    msg = f"timed out waiting for {what}"
    raise AssertionError(msg)


def bot_settings(engine: EngineSettings, forge: RunningForge, data_dir: Path, **overrides: Any) -> BotSettings:
    forge_settings: dict[str, Any]
    if forge.forge is Forge.GITHUB:
        forge_settings = {
            "github": GitHubSettings(
                api_url=forge.url,
                token="bot-token",  # type: ignore[arg-type]
                webhook_secret=SECRET,  # type: ignore[arg-type]
                seconds_between_writes=0,
            )
        }
    else:
        forge_settings = {
            "gitlab": GitLabSettings(url=forge.url, token="bot-token", webhook_secret=SECRET)  # type: ignore[arg-type]
        }
    values: dict[str, Any] = {
        **engine.model_dump(),
        "data_dir": data_dir,
        "concurrency": 2,
        "poll_interval": 0.1,
        "retry_delay": 0.2,
        **forge_settings,
        **overrides,
    }
    return BotSettings(**values)


@dataclass
class Deliveries:
    """Sends a bot at `url` the signed deliveries the forge would, and reads back what the bot wrote there."""

    forge: RunningForge
    repo: GitRepo
    url: str
    remote: Path  # what the forge hosts and the bot clones: the repository itself, or a bare remote of it
    sent: list[httpx.Response] = field(default_factory=list)

    def send_pull_request(
        self,
        action: str,
        number: int,
        head_sha: str,
        *,
        delivery: str | None = None,
        fork: bool = False,
        head_ref: str = "feature",
        merge_commit_sha: str | None = None,
        clone_url: str | None = None,
    ) -> httpx.Response:
        """What the forge sends when a pull request from `head_ref` (or a fork's) into `main` changes.

        `clone_url` is what the delivery claims (default: the hosted repository's path); the bot builds its own.
        """
        clone_url = clone_url or str(self.remote)
        if self.forge.forge is Forge.GITHUB:
            github_action = {"updated": "synchronize", "merged": "closed"}.get(action, action)
            payload = github_pull_request(
                github_action,
                number=number,
                full_name=self.forge.repository.full_name,
                clone_url=clone_url,
                head_sha=head_sha,
                head_ref=head_ref,
                fork="someone/deployments-fork" if fork else None,
                merge_commit_sha=merge_commit_sha,
            )
            response = send_github(self.url, SECRET, "pull_request", payload, delivery)
        else:
            gitlab_action = {
                "opened": "open",
                "updated": "update",
                "closed": "close",
                "reopened": "reopen",
                "merged": "merge",
            }[action]
            oldrev = "0" * 40 if action == "updated" else None
            payload = gitlab_merge_request(
                gitlab_action,
                iid=number,
                project_id=GITLAB_PROJECT_ID,
                path=self.forge.repository.full_name,
                clone_url=clone_url,
                head_sha=head_sha,
                head_ref=head_ref,
                oldrev=oldrev,
                fork_project_id=GITLAB_PROJECT_ID + 1 if fork else None,
                merge_commit_sha=merge_commit_sha,
            )
            response = send_gitlab(self.url, SECRET, "Merge Request Hook", payload, delivery)
        self.sent.append(response)
        return response

    def send_comment(self, number: int, author: str, body: str, *, edited: bool = False) -> int:
        """A comment as a person writes it: stored in the forge, then delivered; its id."""
        comment_id = self.forge.add_comment(number, author, body)
        clone_url = str(self.remote)
        if self.forge.forge is Forge.GITHUB:
            payload = github_comment(
                number=number,
                full_name=self.forge.repository.full_name,
                clone_url=clone_url,
                comment_id=comment_id,
                author=author,
                body=body,
                edited=edited,
            )
            response = send_github(self.url, SECRET, "issue_comment", payload)
        else:
            payload = gitlab_note(
                iid=number,
                project_id=GITLAB_PROJECT_ID,
                path=self.forge.repository.full_name,
                clone_url=clone_url,
                note_id=comment_id,
                author=author,
                body=body,
                edited=edited,
                head_sha=self._gitlab_head(number),
            )
            response = send_gitlab(self.url, SECRET, "Note Hook", payload)
        self.sent.append(response)
        return comment_id

    def _gitlab_head(self, number: int) -> str | None:
        """The head GitLab's note names: the merge request's head when the comment is written."""
        pulls = self.forge.pulls
        return pulls.head(number) if isinstance(pulls, GitLabMergeRequests) else None

    def send_push(self, branch: str, before: str, after: str, message: str) -> httpx.Response:
        clone_url = str(self.remote)
        if self.forge.forge is Forge.GITHUB:
            payload = github_push(
                full_name=self.forge.repository.full_name,
                clone_url=clone_url,
                branch=branch,
                before=before,
                after=after,
                message=message,
            )
            response = send_github(self.url, SECRET, "push", payload)
        else:
            payload = gitlab_push(
                project_id=GITLAB_PROJECT_ID,
                path=self.forge.repository.full_name,
                clone_url=clone_url,
                branch=branch,
                before=before,
                after=after,
                message=message,
            )
            response = send_gitlab(self.url, SECRET, "Push Hook", payload)
        self.sent.append(response)
        return response

    def final_status(self, sha: str, timeout: float = 240) -> str:
        def settled() -> str | None:
            statuses = self.forge.statuses(sha)
            return statuses[-1].state if statuses and statuses[-1].state != "pending" else None

        return wait_for(f"a final status on {sha[:12]}", settled, timeout)

    def bot_comments(self, number: int) -> list[str]:
        return [c.body for c in self.forge.comments(number) if c.author == self.forge.bot]


@dataclass
class BotHarness(Deliveries):
    """The bot in this process (its server on a thread)."""

    bot: Bot = field(kw_only=True)


def settings_yaml(settings: BotSettings) -> str:
    """The settings as a `--config` file, secrets in clear (for a bot process the test starts)."""

    def plain(value: object) -> object:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value)

    return yaml.safe_dump(json.loads(json.dumps(settings.model_dump(exclude_none=True), default=plain)))


class BotProcess:
    """`kpops-bot serve` as a process of its own, started and killed (SIGKILL: no cleanup) by the test."""

    def __init__(self, settings: BotSettings, config: Path) -> None:
        config.write_text(settings_yaml(settings))
        self.config = config
        self.replica = settings.replica  # the id its jobs carry in the store
        self.url = f"http://127.0.0.1:{settings.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BotProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kpops_bot", "serve", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "KPOPS_BOT_TEST_REGISTRY": "registry.example.com"},
        )
        wait_for("the bot to listen", self._ready, timeout=60)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:  # a job still hangs on the forge: the test has failed anyway
                self.process.kill()
                self.process.wait()
            self.process = None


@contextmanager
def running_bot(
    forge: Forge,
    engine: EngineSettings,
    tmp_path: Path,
    repo: GitRepo,
    remote: Path | None = None,
    data_dir: Path | None = None,
    **overrides: Any,
) -> Iterator[BotHarness]:
    """The bot on a fake forge hosting `remote` (a bare repository the tests push to) or `repo` itself; its data in
    `data_dir` (default: a folder in `tmp_path`)."""
    permissions = {"alice": "write", "bob": "read", "carol": "maintain"}
    with ExitStack() as stack:
        running = stack.enter_context(running_forge(forge, remote or repo.path / ".git", permissions))
        settings = bot_settings(engine, running, data_dir or tmp_path / "bot-data", **overrides)
        bot = Bot(settings, FAST_RETRIES)
        server = stack.enter_context(ThreadedServer(bot.app))
        yield BotHarness(running, repo, server.url, remote or repo.path, bot=bot)


@contextmanager
def bot_on_remote(
    forge: Forge, engine: EngineSettings, tmp_path: Path, repo: GitRepo, **overrides: Any
) -> Iterator[BotHarness]:
    """The bot on a fake forge hosting a bare clone of `repo` that is its `origin`: branches the test pushes and the
    bot's own commits meet there."""
    with running_bot(forge, engine, tmp_path, repo, repo.with_origin(tmp_path / "remote.git"), **overrides) as bot:
        yield bot


def harness_fixture(**overrides: Any) -> Any:
    """A module's `harness` fixture: `bot_on_remote` with these settings, once on GitHub and once on GitLab.

    `harness = harness_fixture(environments={"main": ["dev"]})` at a module's top level.
    """

    @pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
    def harness(
        request: pytest.FixtureRequest, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
    ) -> Iterator[BotHarness]:
        with bot_on_remote(request.param, engine_settings, tmp_path, deployment_repo, **overrides) as running:
            yield running

    return harness


@dataclass
class Replicas:
    """`kpops-bot serve` processes sharing one database, a fake forge and a bare remote; a sender for each."""

    forge: RunningForge
    remote: Path
    bots: list[BotProcess]
    senders: list[Deliveries]


@contextmanager
def running_replicas(
    forge: Forge,
    engine: EngineSettings,
    tmp_path: Path,
    repo: GitRepo,
    database_url: str,
    count: int = 2,
    **overrides: Any,
) -> Iterator[Replicas]:
    """`count` replicas on `database_url` (each with a data folder of its own, a heartbeat every 0.5 s and dead after
    3 s of silence unless `overrides` say otherwise), started; stopped afterwards, however the test ends."""
    remote = repo.with_origin(tmp_path / "remote.git")
    replica = {"heartbeat_seconds": 0.5, "replica_timeout": 3, **overrides}
    with running_forge(forge, remote, {"alice": "write"}) as running:
        bots: list[BotProcess] = []
        try:
            for name in "abcdefgh"[:count]:
                settings = bot_settings(
                    engine, running, tmp_path / name, port=free_port(), database_url=database_url, **replica
                )
                bots.append(BotProcess(settings, tmp_path / f"{name}.yaml").start())
            yield Replicas(running, remote, bots, [Deliveries(running, repo, bot.url, remote) for bot in bots])
        finally:
            for bot in bots:
                bot.stop()
