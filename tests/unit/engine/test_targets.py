"""A render's checkout holds only the files it reads when the repository is kpops files and data alone: real git,
real kpops, the built-in helm. A render from that checkout equals one from the whole tree (rendered and failed
alike), and the whole tree is checked out as soon as custom code, a chart of its own or a link could be read."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import pytest

from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import RenderTarget, files_read, layout_at, render_targets
from kpops_bot.model.render import PipelineRender, RenderSpec
from kpops_bot.workspace import CachedRepository, Workspace
from testbed.repos import CHARTS, GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"


class CheckoutNoting:
    """The real pool, noting the files each render's checkout holds when it is submitted."""

    def __init__(self, pool: RenderPool) -> None:
        self._pool = pool
        self.checkouts: list[set[str]] = []

    @property
    def settings(self) -> EngineSettings:
        return self._pool.settings

    def kpops_release(self, files: Sequence[str], read: Callable[[str], str | None]) -> str:
        del files, read
        return self._pool.kpops_version

    def submit(self, request: RenderRequest) -> Future[PipelineRender]:
        root = request.checkout
        self.checkouts.append({str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()})
        return self._pool.submit(request)

    def rest(self) -> None:
        self._pool.rest()


def without_custom_code(repo: GitRepo) -> None:
    shutil.rmtree(repo.path / "kpops")
    # A pipeline that fails: its error (and where it points) must not depend on what else the checkout holds.
    repo.write("pipelines/broken/pipeline.yaml", "- type: no-such-component\n  name: broken\n")
    repo.commit("kpops files and data only")


def targets_at(repository: CachedRepository, spec: RenderSpec) -> list[RenderTarget]:
    commit = repository.resolve("main")
    layout = layout_at(repository, commit, spec)
    return [RenderTarget(commit, layout.pipelines[name], spec, layout) for name in ("word-count", "broken")]


def from_whole_tree(repository: CachedRepository, pool: RenderPool, target: RenderTarget) -> PipelineRender:
    with repository.checkout(target.commit) as root:
        request = RenderRequest(
            target.pipeline.name, target.pipeline.pipeline_file, root, target.commit, target.spec.environment
        )
        return pool.render(request)


@pytest.mark.parametrize("environment", [None, "prod"])
def test_a_render_from_the_files_it_reads_equals_one_from_the_whole_tree(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, environment: str | None
) -> None:
    without_custom_code(deployment_repo)
    repository = workspace.repository(str(deployment_repo.path))
    targets = targets_at(repository, RenderSpec(environment=environment))
    noting = CheckoutNoting(pool)

    sparse = render_targets(repository, noting, targets)

    (checkout,) = {frozenset(files) for files in noting.checkouts}  # one checkout for the commit's renders
    assert checkout == files_read(targets, targets[0].commit)
    assert WORD_COUNT in checkout and "README.md" not in checkout
    assert ("pipelines/defaults_prod.yaml" in checkout) == (environment == "prod")
    whole = [from_whole_tree(repository, pool, target) for target in targets]
    assert sparse[0].ok and not sparse[1].ok
    assert [render.model_dump() for render in sparse] == [render.model_dump() for render in whole]


def test_the_whole_tree_is_checked_out_for_custom_code_a_chart_of_its_own_or_a_link(
    deployment_repo: GitRepo, workspace: Workspace
) -> None:
    repository = workspace.repository(str(deployment_repo.path))
    assert files_read(targets_at_word_count(repository), repository.resolve("main")) is None  # kpops/components

    shutil.rmtree(deployment_repo.path / "kpops")
    deployment_repo.commit("no custom code")
    repository = workspace.repository(str(deployment_repo.path))
    assert files_read(targets_at_word_count(repository), repository.resolve("main")) is not None

    shutil.copytree(CHARTS / "streams-app", deployment_repo.path / "charts/streams-app")
    deployment_repo.commit("a chart of its own")
    repository = workspace.repository(str(deployment_repo.path))
    assert files_read(targets_at_word_count(repository), repository.resolve("main")) is None

    shutil.rmtree(deployment_repo.path / "charts")
    (deployment_repo.path / "notes.md").symlink_to("README.md")
    deployment_repo.commit("a link")
    repository = workspace.repository(str(deployment_repo.path))
    assert files_read(targets_at_word_count(repository), repository.resolve("main")) is None


def targets_at_word_count(repository: CachedRepository) -> list[RenderTarget]:
    commit = repository.resolve("main")
    layout = layout_at(repository, commit, RenderSpec())
    return [RenderTarget(commit, layout.pipelines["word-count"], RenderSpec(), layout)]


def test_the_files_read_are_each_pipelines_kpops_files_of_its_environment(
    deployment_repo: GitRepo, workspace: Workspace
) -> None:
    shutil.rmtree(deployment_repo.path / "kpops")
    deployment_repo.commit("no custom code")
    repository = workspace.repository(str(deployment_repo.path))
    commit = repository.resolve("main")
    spec = RenderSpec(environment="prod")
    layout = layout_at(repository, commit, spec)
    targets = [RenderTarget(commit, layout.pipelines[name], spec, layout) for name in ("word-count", "team-a-orders")]
    assert files_read(targets, commit) == {
        "config.yaml",
        "config_prod.yaml",
        WORD_COUNT,
        "pipelines/team-a/orders/pipeline.yaml",
        "pipelines/team-a/defaults.yaml",
        "pipelines/defaults_prod.yaml",
        "pipelines/defaults.yaml",
    }
    assert files_read(targets, "another commit") == set()
