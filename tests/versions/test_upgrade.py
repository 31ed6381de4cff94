"""Repositories pinning different kpops releases, side by side, and a pull request that upgrades kpops 8 → 12."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport, Status
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.lazy import LazyPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import render_revision
from kpops_bot.model.render import ErrorKind, RenderSpec
from kpops_bot.report.as_json import render_json
from kpops_bot.report.markdown import render_markdown
from kpops_bot.versions.environments import EnvironmentStore
from kpops_bot.versions.index import bot_kpops_version
from kpops_bot.versions.releases import KpopsReleases
from kpops_bot.workspace import Workspace
from testbed.kpops_versions import KPOPS_EXAMPLES, environments_folder
from testbed.repos import GitRepo
from tests.support.golden import check_golden

pytestmark = pytest.mark.kpops  # real kpops releases render

STRIMZI = "strimzi_topic:\n  label:\n    strimzi.io/cluster: kafka\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "workspace")


@pytest.fixture
def pools(versioned_engine_settings: EngineSettings, workspace: Workspace) -> Iterator[LazyPool]:
    releases = KpopsReleases(EnvironmentStore(environments_folder()))
    with LazyPool(versioned_engine_settings, checkouts=[workspace.root / "checkouts"], releases=releases) as pool:
        yield pool


def kpops_examples(path: Path) -> GitRepo:
    return GitRepo.from_fixture(path, KPOPS_EXAMPLES)


def upgraded_to_12(repo: GitRepo) -> GitRepo:
    """The pull request: the pin raised to 12 and the one migration step word-count needs."""
    repo.git("checkout", "-q", "-b", "kpops-12")
    repo.write("requirements.txt", "kpops~=12.0\n")
    repo.write("config.yaml", (repo.path / "config.yaml").read_text() + "\n" + STRIMZI)
    repo.commit("Upgrade kpops to 12")
    return repo


def test_repositories_pinning_8_and_12_render_side_by_side(
    pools: LazyPool, workspace: Workspace, tmp_path: Path
) -> None:
    old = kpops_examples(tmp_path / "old")
    new = upgraded_to_12(kpops_examples(tmp_path / "new"))
    with ThreadPoolExecutor(max_workers=2) as executor:
        jobs = [
            executor.submit(render_revision, workspace, pools, str(repo.path), "HEAD", [], RenderSpec())
            for repo in (old, new)
        ]
        (old_render,), (new_render,) = (job.result() for job in jobs)
    assert old_render.ok and new_render.ok, (old_render.error, new_render.error)
    assert (old_render.kpops_version, new_render.kpops_version) == ("8.1.4", bot_kpops_version())
    kinds = [{m["kind"] for c in render.components for m in c.manifests} for render in (old_render, new_render)]
    assert "KafkaTopic" not in kinds[0] and "KafkaTopic" in kinds[1]  # each rendered by its own release
    assert sorted(pools.releases_started) == sorted(["8.1.4", bot_kpops_version()])


def test_the_upgrade_pull_request_shows_what_kpops_12_changes(
    pools: LazyPool, workspace: Workspace, tmp_path: Path
) -> None:
    repo = upgraded_to_12(kpops_examples(tmp_path / "repo"))
    request = DiffRequest(source=str(repo.path), base="main", head="kpops-12")
    report = diff_revisions(workspace, pools, request, DiffOptions())
    assert report.kpops is not None
    assert (report.kpops.base, report.kpops.head) == ("8.1.4", bot_kpops_version())
    [pipeline] = report.pipelines  # affected although no pipeline file changed
    assert (pipeline.name, pipeline.status) == ("word-count", Status.CHANGED)
    data = json.loads(render_json(report))
    assert data["kpops"]["base"] == "8.1.4"
    check_golden("versions/upgrade-8-to-12.md", _stable(render_markdown(report)[0], report))


def test_the_upgrade_without_migration_fails_at_head_and_says_why(
    pools: LazyPool, workspace: Workspace, tmp_path: Path
) -> None:
    repo = kpops_examples(tmp_path / "repo")
    repo.git("checkout", "-q", "-b", "kpops-12")
    repo.write("requirements.txt", "kpops~=12.0\n")
    repo.commit("Upgrade kpops to 12, nothing else")
    report = diff_revisions(workspace, pools, DiffRequest(str(repo.path), "main", "kpops-12"), DiffOptions())
    [pipeline] = report.pipelines
    assert pipeline.status is Status.ERROR
    assert report.kpops is not None
    assert any("renders with kpops 8.1.4 but not with kpops" in risk for risk in report.kpops.migration)
    assert any("strimzi_topic.label" in risk for risk in report.kpops.migration)


def test_an_invalid_pin_is_a_render_error_naming_it(pools: LazyPool, workspace: Workspace, tmp_path: Path) -> None:
    repo = kpops_examples(tmp_path / "repo")
    repo.write(".kpops-bot.yaml", "kpops_version: eight\n")
    repo.commit("A pin that is no specifier")
    [render] = render_revision(workspace, pools, str(repo.path), "HEAD", [], RenderSpec())
    assert render.error is not None
    assert render.error.kind is ErrorKind.CONFIG
    assert render.error.message == ".kpops-bot.yaml kpops_version: 'eight' is not a version specifier (e.g. '~=8.1.4')"


def _stable(text: str, report: DiffReport) -> str:
    return text.replace(report.base[:12], "<base>").replace(report.head[:12], "<head>")


def test_the_fork_server_of_an_idle_release_stops_and_starts_again_when_needed(
    versioned_engine_settings: EngineSettings, workspace: Workspace, tmp_path: Path
) -> None:
    now = [0.0]
    settings = versioned_engine_settings.model_copy(update={"kpops_idle_minutes": 1.0})
    releases = KpopsReleases(EnvironmentStore(environments_folder()))
    old = kpops_examples(tmp_path / "old")
    new = upgraded_to_12(kpops_examples(tmp_path / "new"))
    checkouts = [workspace.root / "checkouts"]
    with LazyPool(settings, checkouts=checkouts, releases=releases, clock=lambda: now[0]) as pools:

        def render(repo: GitRepo) -> str:
            (rendered,) = render_revision(workspace, pools, str(repo.path), "HEAD", [], RenderSpec())
            assert rendered.ok, rendered.error
            return str(rendered.kpops_version)

        assert render(old) == "8.1.4"
        now[0] += 59
        assert render(new) == bot_kpops_version()
        assert sorted(pools.releases_started) == sorted(["8.1.4", bot_kpops_version()])  # not idle long enough
        now[0] += 2
        assert render(new) == bot_kpops_version()
        assert pools.releases_started == [bot_kpops_version()]  # 8.1.4 idle for a minute: its fork server stopped
        assert render(old) == "8.1.4"
        assert sorted(pools.releases_started) == sorted(["8.1.4", bot_kpops_version()])
