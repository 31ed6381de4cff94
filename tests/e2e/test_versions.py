"""One bot server, two repositories on the fake GitHub: one pins kpops 8.1.4 (kpops-examples as published), one
pins kpops 12. Both pull requests are previewed by the same server, each rendered by its own release, at the
same time: the kpops 8.1.4 preview waits for its environment (its status says so) while the other one finishes.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.model.kinds import HelmChoice
from kpops_bot.playground.asgi_server import ThreadedServer
from kpops_bot.playground.fake_github import FakeGitHub
from kpops_bot.server.bot import Bot
from kpops_bot.versions.index import bot_kpops_version
from testbed.deliveries import github_pull_request, send_github
from testbed.forges import FAST_RETRIES, running_github
from testbed.harness import SECRET, bot_settings, wait_for
from testbed.kpops_versions import KPOPS_EXAMPLES
from testbed.repos import MIRROR_FROM, GitRepo

pytestmark = pytest.mark.kpops  # real kpops releases render; kpops 8.1.4's environment is built from the index

OLD, NEW = "acme/deployments", "acme/deployments-12"  # the first is the repository `running_github` hosts
STRIMZI = "\nstrimzi_topic:\n  label:\n    strimzi.io/cluster: kafka\n"


def scaled(path: Path, *, pin_12: bool) -> tuple[GitRepo, str]:
    """kpops-examples (pinning kpops~=8.1.4, or kpops~=12.0 with its migration) and a branch scaling word-count."""
    repo = GitRepo.from_fixture(path, KPOPS_EXAMPLES)
    if pin_12:
        repo.write("requirements.txt", "kpops~=12.0\n")
        repo.write("config.yaml", (path / "config.yaml").read_text() + STRIMZI)
        repo.commit("Upgrade kpops to 12")
    repo.git("checkout", "-q", "-b", "feature")
    repo.replace("word-count/pipeline.yaml", "replicaCount: 1", "replicaCount: 2")
    return repo, repo.commit("Scale word-count")


def statuses(fake: FakeGitHub, full_name: str, sha: str) -> list[tuple[str, str]]:
    return [(status.state, status.description) for status in fake.commit_statuses(full_name, sha)]


def final(fake: FakeGitHub, full_name: str, sha: str) -> tuple[str, str]:
    def settled() -> tuple[str, str] | None:
        found = statuses(fake, full_name, sha)
        return found[-1] if found and found[-1][0] != "pending" else None

    return wait_for(f"the final status of {full_name}", settled)


def open_pull_request(url: str, full_name: str, number: int, head: str) -> None:
    payload = github_pull_request("opened", number=number, full_name=full_name, clone_url=full_name, head_sha=head)
    assert send_github(url, SECRET, "pull_request", payload).json()["status"] == "queued"


def test_one_server_previews_a_kpops_8_and_a_kpops_12_repository_side_by_side(
    versioned_chart_server: ChartServer, tmp_path: Path
) -> None:
    old, old_head = scaled(tmp_path / "pins-8", pin_12=False)
    new, new_head = scaled(tmp_path / "pins-12", pin_12=True)
    environments = tmp_path / "environments"
    environments.mkdir()
    engine = EngineSettings(
        helm=HelmChoice.BUILTIN,
        chart_mirrors={MIRROR_FROM: versioned_chart_server.url},
        variables={"NAMESPACE": "kpops"},
        public_variables=["NAMESPACE"],
        render_timeout=120,
        kpops_environments=environments,
    )
    permissions = {"alice": "write"}
    with running_github(old.path / ".git", permissions) as (forge, fake):
        fake.add_repo(NEW, new.path / ".git", permissions)
        bot = Bot(bot_settings(engine, forge, tmp_path / "bot-data"), FAST_RETRIES)
        with ThreadedServer(bot.app) as server, (environments / ".kpops-8.1.4.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process builds kpops 8.1.4 until the lock is released
            open_pull_request(server.url, OLD, 1, old_head)
            wait_for("the kpops 8.1.4 preview waiting", lambda: len(statuses(fake, OLD, old_head)) == 2)
            open_pull_request(server.url, NEW, 2, new_head)
            assert final(fake, NEW, new_head) == ("success", "Pipelines: 1 changed")
            assert statuses(fake, OLD, old_head)[-1] == (
                "pending",
                "Preparing kpops 8.1.4 (first use of this version)",
            )
            fcntl.flock(lock, fcntl.LOCK_UN)
            assert final(fake, OLD, old_head) == ("success", "Pipelines: 1 changed")
    [old_comment] = [c.body for c in fake.pr_comments(OLD, 1)]
    [new_comment] = [c.body for c in fake.pr_comments(NEW, 2)]
    assert "kpops `8.1.4`" in old_comment
    assert f"kpops `{bot_kpops_version()}`" in new_comment
    assert "replicas" in old_comment and "replicas" in new_comment
