"""Publishing stays inside the GitOps layout: links in the target are never followed, names never climb out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.gitops.layout import deploy_write, pipeline_folder, removal
from kpops_bot.gitops.publish import PublishError, publish
from kpops_bot.gitops.target import Target
from kpops_bot.repo_config import InvalidRepoConfigError, parse_repo_config
from kpops_bot.settings import BotSettings
from testbed.harness import running_bot, wait_for
from testbed.repos import GitRepo
from tests.support.renders import recorded_render


def never_newer(_recorded: str, _ours: str) -> bool:
    return False


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the target that a link points to, with a file the bot must not touch."""
    folder = tmp_path / "elsewhere"
    (folder / "word-count").mkdir(parents=True)
    (folder / "word-count" / "precious.yaml").write_text("keep: me\n")
    (folder / "precious.yaml").write_text("keep: me\n")
    return folder


def _target_with(tmp_path: Path, links: dict[str, Path]) -> tuple[Target, Path]:
    seed = GitRepo(tmp_path / "seed")
    seed.write("rendered/dev/team-a-orders/kustomization.yaml", "resources: []\n")
    for link, destination in links.items():
        (seed.path / link).parent.mkdir(parents=True, exist_ok=True)
        (seed.path / link).symlink_to(destination)
    seed.commit("a target with links")
    bare = seed.bare_clone(tmp_path / "gitops.git")
    return Target(str(bare), "main", {}, "kpops-bot", "bot@example.com"), bare


def _head(bare: Path) -> str:
    return subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True, text=True, check=True).stdout


def _untouched(elsewhere: Path) -> bool:
    files = sorted(path.relative_to(elsewhere).as_posix() for path in elsewhere.rglob("*") if path.is_file())
    return files == ["precious.yaml", "word-count/precious.yaml"]


def test_a_linked_pipeline_folder_is_refused_and_nothing_is_written(tmp_path: Path, elsewhere: Path) -> None:
    target, bare = _target_with(tmp_path, {"rendered/dev/word-count": elsewhere / "word-count"})
    before = _head(bare)
    write = deploy_write(pipeline_folder("rendered", "dev", "word-count"), recorded_render("word-count", "a" * 40))
    orders = deploy_write(pipeline_folder("rendered", "dev", "team-a-orders"), recorded_render("word-count", "a" * 40))
    with pytest.raises(
        PublishError, match=r"refused to write `rendered/dev/word-count/`.*`rendered/dev/word-count` is a symbolic link"
    ):
        publish(target, [orders, write], "apply", never_newer)
    assert _head(bare) == before  # not even the folder before it
    assert _untouched(elsewhere)


def test_a_destroy_through_a_linked_environment_removes_nothing(tmp_path: Path, elsewhere: Path) -> None:
    target, bare = _target_with(tmp_path, {"rendered/prod": elsewhere})
    before = _head(bare)
    with pytest.raises(PublishError, match="`rendered/prod` is a symbolic link"):
        publish(target, [removal(pipeline_folder("rendered", "prod", "word-count"), "a" * 40)], "destroy", never_newer)
    assert _head(bare) == before
    assert _untouched(elsewhere)


def test_a_link_inside_the_folder_is_not_written_through(tmp_path: Path, elsewhere: Path) -> None:
    link = "rendered/dev/word-count/kustomization.yaml"
    target, _ = _target_with(tmp_path, {link: elsewhere / "precious.yaml"})
    write = deploy_write(pipeline_folder("rendered", "dev", "word-count"), recorded_render("word-count", "a" * 40))
    with pytest.raises(PublishError, match=f"`{link}` is a symbolic link"):
        publish(target, [write], "apply", never_newer)
    assert _untouched(elsewhere)
    assert (elsewhere / "precious.yaml").read_text() == "keep: me\n"


@pytest.mark.parametrize("folder", ["../outside", "rendered/../../outside", "/tmp/outside"])
def test_a_folder_that_climbs_out_is_refused(tmp_path: Path, folder: str) -> None:
    target, _ = _target_with(tmp_path, {})
    write = removal(folder, "a" * 40)
    with pytest.raises(PublishError, match="the path leaves the layout"):
        publish(target, [write], "destroy", never_newer)
    assert not (tmp_path / "outside").exists()


def test_environment_names_are_checked_where_they_are_read() -> None:
    with pytest.raises(InvalidRepoConfigError, match=r"environment '\.\./\.\./x' is not a valid name"):
        parse_repo_config("environments:\n  main: [dev, ../../x]\n")
    with pytest.raises(ValidationError, match=r"environment '/etc' is not a valid name"):
        BotSettings(environments={"main": ["/etc"]})
    with pytest.raises(ValidationError, match="must be a folder inside the repository"):
        BotSettings(gitops={"path": "../x"})
    assert pipeline_folder(BotSettings(gitops={"path": "."}).gitops.path, "dev", "x") == "dev/x"
    assert parse_repo_config("environments: {main: [dev, prod-eu.1]}").environments == {"main": ["dev", "prod-eu.1"]}


def test_a_deploy_into_a_linked_folder_is_answered_as_refused_and_writes_nothing(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, elsewhere: Path
) -> None:
    (deployment_repo.path / "rendered/dev").mkdir(parents=True)
    (deployment_repo.path / "rendered/dev/word-count").symlink_to(elsewhere / "word-count")
    deployment_repo.commit("a GitOps folder that is a link")
    bare = deployment_repo.with_origin(tmp_path / "remote.git")
    with running_bot(
        Forge.GITHUB, engine_settings, tmp_path, deployment_repo, remote=bare, environments={"main": ["dev"]}
    ) as harness:
        deployment_repo.git("checkout", "-q", "-b", "scale")
        deployment_repo.replace("pipelines/word-count/pipeline.yaml", "replicaCount: 2", "replicaCount: 5")
        head = deployment_repo.commit("scale")
        deployment_repo.git("push", "-q", "origin", "scale")
        harness.forge.pulls.open(1, head, head_ref="scale")
        before = _head(bare)
        harness.send_comment(1, "alice", "/kpops deploy word-count")
        answer = wait_for("the answer", lambda: next(iter(harness.bot_comments(1)), None))
    assert "❌ refused to write `rendered/dev/word-count/` in the GitOps target" in answer
    assert "`rendered/dev/word-count` is a symbolic link" in answer and "Nothing was committed." in answer
    assert _head(bare) == before
    assert _untouched(elsewhere)
