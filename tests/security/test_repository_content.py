"""Repository content that would break the bot is told to its author, never fatal to every later job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.pipelines import RepoLayout
from kpops_bot.workspace import Workspace
from testbed.harness import BotHarness, running_bot
from testbed.repos import GitRepo
from tests.unit.test_cli import kpops_bot
from tests.unit.test_cli_diff import WORD_COUNT, diff_args

ORDERS = "pipelines/team-a/orders/pipeline.yaml"
TWIN = "pipelines/team-a-orders/pipeline.yaml"


def test_two_folders_with_one_pipeline_name_are_named_whatever_the_file_order() -> None:
    files = [ORDERS, TWIN, "pipelines/word-count/pipeline.yaml"]
    for order in (files, list(reversed(files))):
        layout = RepoLayout(frozenset(order), pipeline_base_dir="pipelines")
        assert layout.name_conflicts == {"team-a-orders": ["pipelines/team-a-orders", "pipelines/team-a/orders"]}
        assert layout.pipelines["team-a-orders"].folder == "pipelines/team-a-orders"


@pytest.fixture
def feature(deployment_repo: GitRepo) -> GitRepo:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    return deployment_repo


@pytest.mark.parametrize("command", ["render", "diff"])
def test_render_and_diff_refuse_a_pipeline_name_two_folders_give(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path, command: str
) -> None:
    feature.write(TWIN, (feature.path / ORDERS).read_text())
    feature.commit("A second folder for team-a-orders")
    args = diff_args(feature, chart_server, str(tmp_path / "ws"))
    if command == "render":
        args = ["render", "--repo", str(feature.path), "--rev", "feature", *args[7:]]
    completed = kpops_bot(*args)
    assert completed.returncode == 2, completed.stderr
    assert "'team-a-orders' is given by 'pipelines/team-a-orders/' and 'pipelines/team-a/orders/'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_link_leaving_the_repository_is_left_out_of_the_checkout(
    deployment_repo: GitRepo, workspace: Workspace
) -> None:
    (deployment_repo.path / "pipelines/word-count/passwd").symlink_to("/etc/passwd")
    (deployment_repo.path / "pipelines/up").symlink_to("../../../..")
    (deployment_repo.path / "pipelines/word-count/defaults.yaml").symlink_to("../defaults.yaml")
    commit = deployment_repo.commit("Links")
    repository = workspace.repository(str(deployment_repo.path))
    left_out: list[str] = []
    with repository.checkout(commit, left_out) as root:
        assert not (root / "pipelines/word-count/passwd").exists()
        assert not (root / "pipelines/up").is_symlink()
        assert (root / "pipelines/word-count/defaults.yaml").is_symlink()  # inside the repository: kept
        assert (root / "pipelines/word-count/pipeline.yaml").is_file()
    assert sorted(left_out) == [
        "`pipelines/up` is a link to `../../../..`, outside the repository: the bot left it out. "
        "Make it a relative link to a file inside the repository, or remove it.",
        "`pipelines/word-count/passwd` is a link to `/etc/passwd`, outside the repository: the bot left it out. "
        "Make it a relative link to a file inside the repository, or remove it.",
    ]


def test_an_absolute_link_still_gets_the_diff_with_a_note(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    (feature.path / "pipelines/word-count/hostname").symlink_to("/etc/hostname")
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    feature.commit("Scale, and a link out of the repository")
    completed = kpops_bot(*diff_args(feature, chart_server, str(tmp_path / "ws")), "--format", "json")
    assert completed.returncode == 0, completed.stderr
    (word_count,) = json.loads(completed.stdout)["pipelines"]
    assert word_count["status"] == "changed"
    assert any("`pipelines/word-count/hostname` is a link to `/etc/hostname`" in n for n in word_count["notes"])


@pytest.fixture
def github_bot(engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo) -> Iterator[BotHarness]:
    with running_bot(Forge.GITHUB, engine_settings, tmp_path, deployment_repo) as running:
        yield running


def test_previews_answer_a_clash_and_note_a_link_then_go_on(github_bot: BotHarness) -> None:
    repo = github_bot.repo
    repo.git("checkout", "-q", "-b", "twins")
    repo.write(TWIN, (repo.path / ORDERS).read_text())
    twins = repo.commit("A second folder for team-a-orders")
    github_bot.forge.pulls.open(1, twins, head_ref="twins")
    github_bot.send_pull_request("opened", 1, twins, head_ref="twins")
    assert github_bot.final_status(twins) == "error"
    (clash,) = github_bot.bot_comments(1)
    assert "'team-a-orders' is given by 'pipelines/team-a-orders/' and 'pipelines/team-a/orders/'" in clash
    assert "see the bot's log" not in clash

    repo.git("checkout", "-q", "-b", "linked", "main")
    (repo.path / "pipelines/word-count/hostname").symlink_to("/etc/hostname")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    linked = repo.commit("Scale, and a link out of the repository")
    github_bot.forge.pulls.open(2, linked, head_ref="linked")
    github_bot.send_pull_request("opened", 2, linked, head_ref="linked")
    assert github_bot.final_status(linked) == "success"
    (report,) = github_bot.bot_comments(2)
    assert "`pipelines/word-count/hostname` is a link to `/etc/hostname`" in report
