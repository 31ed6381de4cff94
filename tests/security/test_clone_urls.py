"""Clone URLs come from the configuration: a delivery cannot point the bot at another repository, and the bot's
credentials go to the configured forge alone."""

from __future__ import annotations

import functools
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import CommentEvent, Forge, Repository
from kpops_bot.forges.urls import clone_url, with_configured_clone_url
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from kpops_bot.workspace import Workspace, http_auth_env
from testbed.harness import BotHarness, running_bot
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"


def test_the_clone_url_is_built_from_the_configured_forge_and_the_full_name() -> None:
    settings = BotSettings(
        github=GitHubSettings(api_url="https://ghe.example/api/v3"), gitlab=GitLabSettings(url="https://gl.example/")
    )
    assert clone_url(Forge.GITHUB, BotSettings(), "acme/x") == "https://github.com/acme/x.git"
    assert clone_url(Forge.GITHUB, settings, "acme/x") == "https://ghe.example/acme/x.git"
    assert clone_url(Forge.GITLAB, settings, "acme/sub/x") == "https://gl.example/acme/sub/x.git"
    event = CommentEvent(
        "d", Repository(Forge.GITHUB, "acme/x", "/srv/other-repo"), 1, 2, "alice", "/kpops", False, False
    )
    assert with_configured_clone_url(event, settings).repository.clone_url == "https://ghe.example/acme/x.git"


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def harness(
    request: pytest.FixtureRequest, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> Iterator[BotHarness]:
    with running_bot(request.param, engine_settings, tmp_path, deployment_repo) as running:
        yield running


def test_a_delivery_naming_another_repository_on_disk_gets_the_configured_one(
    harness: BotHarness, tmp_path: Path
) -> None:
    other = GitRepo.from_fixture(tmp_path / "other")
    other.write("pipelines/word-count/pipeline.yaml", "- type: other-repository-was-cloned\n  name: x\n")
    other_head = other.commit("another repository's change")
    repo = harness.repo
    repo.git("checkout", "-q", "-b", "feature")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    head = repo.commit("scale")
    harness.forge.pulls.open(1, head)
    harness.send_pull_request("opened", 1, head, clone_url=str(other.path))
    assert harness.final_status(head) == harness.forge.success
    (report,) = harness.bot_comments(1)
    assert "word-count" in report and "other-repository-was-cloned" not in report
    assert other_head not in report
    cloned = {path.partition(".git/")[0] for path, _user in harness.forge.git_requests}
    assert cloned == {f"/{harness.forge.repository.full_name}"}


class _RecordingHandler(SimpleHTTPRequestHandler):
    """A git server on another host (another port): records what credentials it was sent."""

    authorizations: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.authorizations.append(self.headers.get("Authorization"))
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_credentials_go_to_the_configured_host_only(deployment_repo: GitRepo, tmp_path: Path) -> None:
    served = tmp_path / "served"
    deployment_repo.bare_clone(served / "repo.git")
    subprocess.run(["git", "--git-dir", str(served / "repo.git"), "update-server-info"], check=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RecordingHandler, directory=str(served)))
    # shutdown() waits for the serving loop's next poll: 0.02 s, not the default 0.5
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    elsewhere = f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    forge_env = http_auth_env("x-access-token", "ghs_forge_token", "http://127.0.0.1:1/")  # the configured forge
    try:
        repository = Workspace(tmp_path / "ws").repository(elsewhere, git_env=forge_env)
    finally:
        server.shutdown()
    assert repository.resolve("main")
    assert _RecordingHandler.authorizations
    assert set(_RecordingHandler.authorizations) == {None}
