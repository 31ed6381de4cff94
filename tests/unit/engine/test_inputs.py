"""What a render reads in its repository is an input of change detection and of the render cache: real git, real
kpops, the built-in helm; a Helm chart kept in the repository and custom components that read files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kpops_bot.adapters.deployment import GitDeploymentRepository
from kpops_bot.diff.model import Status
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.targets import RenderTarget, layout_at, render_targets
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.managed import Isolation
from kpops_bot.model.forge import PullRequest, PullState
from kpops_bot.model.render import Operation, PipelineRender, RenderSpec
from kpops_bot.repo_config import RepoConfig, effective
from kpops_bot.sandbox.layers import Layer
from kpops_bot.settings import BotSettings
from kpops_bot.workspace import Workspace
from testbed.repos import CHARTS, GitRepo
from tests.support.renders import manifest

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
TEMPLATE = "charts/streams-app/templates/deployment.yaml"
DEPLOYMENT = "word-count-word-counter"
COMPONENT = "kpops/components/batch_producer/__init__.py"


def keep_chart_in_repository(repo: GitRepo, chart_server: ChartServer) -> None:
    """word-count's streams app takes its chart from `charts/streams-app` in the repository, as helm resolves
    `<repository_name>/<chart>` to a local folder when one exists."""
    shutil.copytree(CHARTS / "streams-app", repo.path / "charts/streams-app")
    repo.replace(
        WORD_COUNT,
        "  name: word-counter\n",
        f"  name: word-counter\n  repo_config:\n    repository_name: charts\n    url: {chart_server.url}\n",
    )
    repo.commit("word-count: chart kept in the repository")


def annotate_in_chart(repo: GitRepo, value: str) -> None:
    original = (CHARTS / "streams-app/templates/deployment.yaml").read_text(encoding="utf-8")
    annotated = f"metadata:\n  annotations:\n    local-chart: {value}\n  name:"
    repo.write(TEMPLATE, original.replace("metadata:\n  name:", annotated, 1))


def render_at(
    repo: GitRepo, workspace: Workspace, pool: RenderPool, cache: RenderCache, revision: str, pipeline: str
) -> PipelineRender:
    repository = workspace.repository(str(repo.path))
    commit = repository.resolve(revision)
    layout = layout_at(repository, commit, RenderSpec())
    (render,) = render_targets(
        repository, pool, [RenderTarget(commit, layout.pipelines[pipeline], RenderSpec(), layout)], cache
    )
    return render


def annotations(render: PipelineRender) -> dict[str, str]:
    annotated: dict[str, str] = manifest(render, "Deployment", DEPLOYMENT)["metadata"].get("annotations") or {}
    return annotated


def test_a_change_to_a_local_chart_only_is_previewed(
    deployment_repo: GitRepo, chart_server: ChartServer, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    keep_chart_in_repository(deployment_repo, chart_server)
    deployment_repo.git("checkout", "-q", "-b", "feature")
    annotate_in_chart(deployment_repo, "edited")
    deployment_repo.commit("Only the chart")
    cache = RenderCache(tmp_path / "cache")
    request = DiffRequest(source=str(deployment_repo.path), base="main", head="feature")

    report = diff_revisions(workspace, pool, request, cache=cache)

    statuses = {p.name: p.status for p in report.pipelines}
    assert statuses["word-count"] is Status.CHANGED
    assert set(statuses.values()) == {Status.CHANGED, Status.UNCHANGED}, "the others do not read the chart"
    word_count = next(p for p in report.pipelines if p.name == "word-count")
    (deployment,) = [r for c in word_count.components for r in c.resources if r.kind == "Deployment"]
    assert "+  annotations:\n+    local-chart: edited" in deployment.diff
    stores = cache.stores
    assert stores == 2 * len(statuses)

    annotate_in_chart(deployment_repo, "edited-again")
    deployment_repo.commit("The chart again")
    again = diff_revisions(workspace, pool, request, cache=cache)
    assert cache.stores == stores + 1, "only word-count's head reads the chart that changed"
    assert cache.hits == 2 * len(statuses) - 1
    word_count = next(p for p in again.pipelines if p.name == "word-count")
    (deployment,) = [r for c in word_count.components for r in c.resources if r.kind == "Deployment"]
    assert "+    local-chart: edited-again" in deployment.diff


def test_the_cache_never_serves_a_render_of_an_older_chart(
    deployment_repo: GitRepo, chart_server: ChartServer, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    keep_chart_in_repository(deployment_repo, chart_server)
    cache = RenderCache(tmp_path / "cache")
    before = render_at(deployment_repo, workspace, pool, cache, "main", "word-count")
    assert before.reads is not None
    assert "charts/streams-app" in before.reads.trees
    assert "local-chart" not in annotations(before)

    annotate_in_chart(deployment_repo, "merged")
    deployment_repo.commit("Merge: the chart changed")
    after = render_at(deployment_repo, workspace, pool, cache, "main", "word-count")
    assert annotations(after)["local-chart"] == "merged"
    assert cache.hits == 0

    deployment_repo.write("pipelines/NOTES.md", "unrelated\n")
    deployment_repo.commit("Unrelated file in a folder nobody lists")
    served = render_at(deployment_repo, workspace, pool, cache, "main", "word-count")
    assert cache.hits == 1
    assert annotations(served)["local-chart"] == "merged"


def component_reading(repo: GitRepo, body: str) -> None:
    """The fixture's custom component also sets its image tag from what `body` (a function body) returns."""
    text = (repo.path / COMPONENT).read_text(encoding="utf-8")
    repo.write(
        COMPONENT,
        text.replace("from kpops.components", "import subprocess  # noqa: F401\n\nfrom kpops.components", 1)
        + "\n    def model_post_init(self, context: object) -> None:\n"
        + "        super().model_post_init(context)\n"
        + f"        self.values.image_tag = _tag()\n\n\ndef _tag() -> str:\n{body}\n",
    )


def image_tag(render: PipelineRender) -> str:
    producer = next(c for c in render.components if c.type == "batch-producer")
    tag: str = producer.config["values"]["imageTag"]
    return tag


def test_a_data_file_a_custom_component_opens_is_an_input(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    component_reading(deployment_repo, '    return open("data/tag.txt").read().strip()')
    deployment_repo.write("data/tag.txt", "1.0.0\n")
    deployment_repo.commit("Tag from a data file")
    cache = RenderCache(tmp_path / "cache")
    first = render_at(deployment_repo, workspace, pool, cache, "main", "team-b-analytics-clickstream")
    assert first.error is None, first.error
    assert first.reads is not None
    assert "data/tag.txt" in first.reads.files

    deployment_repo.write("data/tag.txt", "2.0.0\n")
    deployment_repo.commit("New tag")
    second = render_at(deployment_repo, workspace, pool, cache, "main", "team-b-analytics-clickstream")
    assert cache.hits == 0
    assert (image_tag(first), image_tag(second)) == ("1.0.0", "2.0.0")
    render_at(deployment_repo, workspace, pool, cache, "main", "team-b-analytics-clickstream")
    assert cache.hits == 1


READ_BY_ANOTHER_PROCESS = (
    '    return subprocess.run(["cat", "data/tag.txt"], capture_output=True, text=True, check=True).stdout.strip()'
)
READ_OVER_A_CONNECTION = """    import socket
    with socket.socket() as connection:
        connection.settimeout(0.5)
        try:
            connection.connect(("127.0.0.1", 9))
        except OSError:
            pass
    return "1.0.0"
"""


@pytest.mark.parametrize(
    ("body", "unobserved"),
    [(READ_BY_ANOTHER_PROCESS, "started a process (cat)"), (READ_OVER_A_CONNECTION, "opened a connection")],
)
def test_a_render_whose_reads_cannot_be_seen_is_not_cached(
    body: str, unobserved: str, deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    component_reading(deployment_repo, body)
    deployment_repo.write("data/tag.txt", "1.0.0\n")
    deployment_repo.commit("Tag read where the bot cannot see")
    cache = RenderCache(tmp_path / "cache")
    render = render_at(deployment_repo, workspace, pool, cache, "main", "team-b-analytics-clickstream")
    assert render.error is None, render.error
    assert image_tag(render) == "1.0.0"
    assert render.reads is not None
    assert render.reads.unobserved == [unobserved]
    assert cache.stores == 0
    render_at(deployment_repo, workspace, pool, cache, "main", "team-b-analytics-clickstream")
    assert cache.hits == 0


@pytest.fixture
def unrelated_change(deployment_repo: GitRepo) -> GitRepo:
    deployment_repo.git("checkout", "-q", "-b", "docs")
    deployment_repo.write("docs/notes.md", "a note\n")
    deployment_repo.commit("Docs only")
    return deployment_repo


def test_a_file_outside_charts_and_kpops_files_affects_nothing(
    unrelated_change: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    report = diff_revisions(workspace, pool, DiffRequest(str(unrelated_change.path), "main", "docs"))
    assert report.pipelines == []


def test_a_change_to_a_file_a_custom_component_reads_is_previewed(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    component_reading(deployment_repo, '    return open("data/tag.txt").read().strip()')
    deployment_repo.write("data/tag.txt", "1.0.0\n")
    deployment_repo.commit("Tag from a data file")
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.write("data/tag.txt", "2.0.0\n")
    deployment_repo.commit("Only the data file")
    cache = RenderCache(tmp_path / "cache")

    report = diff_revisions(workspace, pool, DiffRequest(str(deployment_repo.path), "main", "feature"), cache=cache)

    assert [(p.name, p.status) for p in report.pipelines] == [("team-b-analytics-clickstream", Status.CHANGED)]
    changes = [c for component in report.pipelines[0].components for c in component.config_changes]
    assert [(c.path, c.old, c.new) for c in changes] == [("values.imageTag", "1.0.0", "2.0.0")]
    assert cache.stores == 5, "every pipeline's base render, to learn what it reads, and the head of clickstream"


def test_apply_and_deploy_follow_what_a_changed_data_file_reached(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    component_reading(deployment_repo, '    return open("data/tag.txt").read().strip()')
    deployment_repo.write("data/tag.txt", "1.0.0\n")
    before = deployment_repo.commit("Tag from a data file")
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.write("data/tag.txt", "2.0.0\n")
    after = deployment_repo.commit("Only the data file")
    settings = BotSettings(data_dir=tmp_path / "bot")
    deployment = GitDeploymentRepository(
        workspace.repository(str(deployment_repo.path)),
        settings,
        lambda _trusted: pool,
        RenderCache(tmp_path / "cache"),
        Isolation(Layer.OFF),
    )
    config = effective(settings, RepoConfig(), "main")

    applied = deployment.change_steps(before, after, None, config)
    assert [(step.operation, step.pipeline.name) for step in applied] == [
        (Operation.DEPLOY, "team-b-analytics-clickstream")
    ]
    pull = PullRequest(1, PullState.OPEN, "alice", "main", after, False, (), True, None)
    deployed = deployment.command_steps(Operation.DEPLOY, [], [None], pull, config)
    assert [step.pipeline.name for step in deployed] == ["team-b-analytics-clickstream"]
