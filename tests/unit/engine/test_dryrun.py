"""Dry runs of real changes to the fixture repository: real git, real kpops, the built-in helm."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest

from kpops_bot.connectors import ConnectorPolicy, ConnectorSetup
from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import RiskLevel, Status
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.lazy import LazyPool
from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import RenderTarget, UnknownPipelineError, layout_at, render_targets
from kpops_bot.model.kinds import ConnectorDeploy
from kpops_bot.model.render import PipelineRender, RenderSpec
from kpops_bot.report.as_json import render_json
from kpops_bot.report.markdown import render_markdown
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
ORDERS = "pipelines/team-a/orders/pipeline.yaml"
NEW_PASSWORD = "rotated-Pa55word-42"


def reviewed_change(repo: GitRepo) -> None:
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 1")
    repo.replace(WORD_COUNT, "tasks.max: 1", "tasks.max: 2")
    repo.replace(WORD_COUNT, "connection.password: changeme-in-vault", f"connection.password: {NEW_PASSWORD}")


@pytest.fixture
def feature(deployment_repo: GitRepo) -> GitRepo:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    return deployment_repo


def test_reviewed_change_and_a_broken_pipeline(feature: GitRepo, workspace: Workspace, pool: RenderPool) -> None:
    reviewed_change(feature)
    text = (feature.path / ORDERS).read_text(encoding="utf-8")
    feature.write(ORDERS, text + "- type: producer-app\n  name: bad: colon\n")
    feature.commit("Scale word-count, break orders")
    request = DiffRequest(source=str(feature.path), base="main", head="feature")
    report = diff_revisions(workspace, pool, request)

    assert [(p.name, p.status) for p in report.pipelines] == [
        ("team-a-orders", Status.ERROR),
        ("word-count", Status.CHANGED),
    ]
    orders, word_count = report.pipelines
    assert orders.error is not None
    assert orders.error.file == ORDERS
    assert orders.error.line == text.count("\n") + 2
    assert f"{ORDERS}:{orders.error.line}: invalid YAML" in orders.error.message

    resources = {(r.kind, r.name): r for c in word_count.components for r in c.resources}
    deployment = resources["Deployment", "word-count-word-counter"]
    assert deployment.status is Status.CHANGED
    assert "-  replicas: 2\n+  replicas: 3" in deployment.diff
    topic = resources["KafkaTopic", "word-count-word-counter-topic"]
    assert topic.status is Status.CHANGED
    assert "-  partitions: 3\n+  partitions: 1" in topic.diff
    assert [(r.code, r.level, r.topic or r.component) for r in word_count.risks] == [
        ("partitions-decreased", RiskLevel.DANGER, "word-count-word-counter-topic"),
        ("not-applied", RiskLevel.WARNING, "redis-sink-connector"),  # manifest mode commits nothing of it
    ]
    connector = next(c for c in word_count.components if c.name == "redis-sink-connector")
    assert not connector.applied and connector.reason is not None
    assert {c.path: (c.old, c.new) for c in connector.config_changes} == {
        'config["tasks.max"]': ("1", "2"),
        'config["connection.password"]': ("***", "*** (changed)"),
    }
    assert report.summary.failed == 1
    assert report.summary.blocking

    markdown = "".join(render_markdown(report))
    machine = render_json(report)
    for text_out in (markdown, machine):
        assert NEW_PASSWORD not in text_out
        assert "changeme-in-vault" not in text_out
    assert "*** (changed)" in markdown
    assert json.loads(machine)["summary"]["failed"] == 1


def test_diff_is_against_the_merge_base(feature: GitRepo, workspace: Workspace, pool: RenderPool) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 4")
    feature.commit("Scale word-count")
    feature.git("checkout", "-q", "main")
    feature.replace(ORDERS, "RATE: 100", "RATE: 200")
    feature.commit("Main moved on: orders changed")
    report = diff_revisions(workspace, pool, DiffRequest(source=str(feature.path), base="main", head="feature"))
    assert [p.name for p in report.pipelines] == ["word-count"]
    assert report.base == feature.git("merge-base", "main", "feature")


def test_new_pushes_render_only_what_they_affect(
    feature: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    cache = RenderCache(tmp_path / "cache")
    request = DiffRequest(source=str(feature.path), base="main", head="feature")
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    feature.commit("First push")
    first = diff_revisions(workspace, pool, request, cache=cache)
    assert [p.name for p in first.pipelines] == ["word-count"]
    assert (cache.hits, cache.stores) == (0, 2)

    feature.replace(ORDERS, "RATE: 100", "RATE: 300")
    feature.commit("Second push")
    second = diff_revisions(workspace, pool, request, cache=cache)
    assert [p.name for p in second.pipelines] == ["team-a-orders", "word-count"]
    assert (cache.hits, cache.stores) == (2, 4), "word-count is reused at base and head, orders rendered twice"
    first_word_count = first.pipelines[0].model_dump()
    assert second.pipelines[1].model_dump() == first_word_count


def test_a_fully_cached_diff_starts_no_render_process(
    feature: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    cache = RenderCache(tmp_path / "cache")
    request = DiffRequest(source=str(feature.path), base="main", head="feature")
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    feature.commit("Scale")
    first = diff_revisions(workspace, pool, request, cache=cache)
    with LazyPool(pool.settings) as lazy:
        again = diff_revisions(workspace, lazy, request, cache=cache)
        assert not lazy.started
    assert again == first
    feature.replace(ORDERS, "RATE: 100", "RATE: 300")
    feature.commit("Second push")
    with LazyPool(pool.settings) as lazy:
        diff_revisions(workspace, lazy, request, cache=cache)
        assert lazy.started  # team-a-orders was not cached


def test_a_warmed_up_pool_renders_rests_once_everything_is_cached_and_leaves_nothing_behind(
    feature: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    settings = pool.settings.model_copy(update={"work_dir": work})
    cache = RenderCache(tmp_path / "cache")
    request = DiffRequest(source=str(feature.path), base="main", head="feature")
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    feature.commit("Scale")
    with LazyPool(settings) as warmed:
        warmed.warm_up()  # started before the work that finds what to render, used by it
        report = diff_revisions(workspace, warmed, request, cache=cache)
    assert report == diff_revisions(workspace, pool, request)
    with LazyPool(settings) as lazy:
        lazy.warm_up()
        diff_revisions(workspace, lazy, request, cache=cache)  # every render cached: the pool is not needed
        # Stopped at once: its fork server and helm service would take the second CPU from the diffs.
        assert not lazy.started, "the warmed-up pool is stopped once every render is known cached"
        assert not _processes_naming(work)
        feature.replace(WORD_COUNT, "replicaCount: 3", "replicaCount: 4")
        feature.commit("Scale again")
        again = diff_revisions(workspace, lazy, request, cache=cache)
        assert lazy.started, "a render after the rest starts a pool again"
    assert again == diff_revisions(workspace, pool, request)
    assert not list(work.iterdir())
    assert not _processes_naming(work)


def _processes_naming(folder: Path) -> list[str]:
    """Command lines of running processes that name `folder` (a pool's fork server, bubblewrap, helm service)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in text:
            found.append(text)
    return found


def test_only_the_named_pipelines(feature: GitRepo, workspace: Workspace, pool: RenderPool) -> None:
    feature.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    feature.replace(ORDERS, "RATE: 100", "RATE: 300")
    feature.commit("Two pipelines")
    request = DiffRequest(source=str(feature.path), base="main", head="feature", only=["team-a/orders"])
    report = diff_revisions(workspace, pool, request, DiffOptions())
    assert [p.name for p in report.pipelines] == ["team-a-orders"]
    with pytest.raises(UnknownPipelineError, match="Did you mean 'word-count'"):
        diff_revisions(workspace, pool, DiffRequest(str(feature.path), "main", "feature", only=["word-cont"]))


def test_environment_specific_files(feature: GitRepo, workspace: Workspace, pool: RenderPool) -> None:
    text = (feature.path / "pipelines/defaults_prod.yaml").read_text(encoding="utf-8")
    feature.write("pipelines/defaults_prod.yaml", text + "\n# reviewed\n")
    feature.commit("Comment in prod defaults")
    request = DiffRequest(str(feature.path), "main", "feature", environments=["dev", "prod"])
    report = diff_revisions(workspace, pool, request)
    assert {p.environment for p in report.pipelines} == {"prod"}
    assert {p.status for p in report.pipelines} == {Status.UNCHANGED}
    assert render_markdown(report)[0].count("<details>") == 0


def test_under_strimzi_a_dry_run_diffs_the_kafka_connector_each_side_renders(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    feature.replace(WORD_COUNT, "tasks.max: 1", "tasks.max: 2")
    feature.replace(WORD_COUNT, "connection.password: changeme-in-vault", 'connection.password: "${secrets:s/r:p}"')
    feature.commit("Two tasks, the password from a Secret")
    policy = ConnectorPolicy(ConnectorSetup(ConnectorDeploy.STRIMZI, "my-connect"))
    request = DiffRequest(source=str(feature.path), base="main", head="feature")
    report = diff_revisions(workspace, pool, request, DiffOptions(connectors=policy))
    (word_count,) = report.pipelines
    connector = next(c for c in word_count.components if c.name == "redis-sink-connector")
    assert connector.applied and word_count.risks == []  # a reference is no literal
    [resource] = connector.resources
    assert (resource.kind, resource.name, resource.status) == (
        "KafkaConnector",
        "word-count-redis-sink-connector",
        Status.CHANGED,
    )
    assert "-  tasksMax: 1\n+  tasksMax: 2" in resource.diff
    assert "+    connection.password: '***'" in resource.diff  # the base's literal was never in its resource


class _HeldBack:
    """The real pool, with the render of one pipeline held until `release` is set (or a minute passes)."""

    def __init__(self, pool: RenderPool, held: str) -> None:
        self._pool, self._held = pool, held
        self.release = threading.Event()
        self.released_in_time = False

    @property
    def settings(self) -> EngineSettings:
        return self._pool.settings

    def kpops_release(self, files: Sequence[str], read: Callable[[str], str | None]) -> str:
        return self._pool.kpops_release(files, read)

    def submit(self, request: RenderRequest) -> Future[PipelineRender]:
        rendering = self._pool.submit(request)
        if request.pipeline != self._held:
            return rendering
        held: Future[PipelineRender] = Future()

        def hand_over() -> None:
            self.released_in_time = self.release.wait(timeout=60)
            held.set_result(rendering.result())

        threading.Thread(target=hand_over, daemon=True).start()
        return held

    def rest(self) -> None:
        self._pool.rest()


def test_each_render_is_handed_on_while_the_others_still_render(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    """What lets a dry run diff a pipeline as soon as its renders are in: word-count's render comes back only once
    orders' render has been handed on, which waited for every render before."""
    repository = workspace.repository(str(feature.path))
    commit = repository.resolve("main")
    layout = layout_at(repository, commit, RenderSpec())
    targets = [
        RenderTarget(commit, layout.pipelines[name], RenderSpec(), layout) for name in ("word-count", "team-a-orders")
    ]
    held = _HeldBack(pool, "word-count")
    handed: list[str] = []

    def on_render(target: RenderTarget, render: PipelineRender) -> None:
        handed.append(render.name)
        held.release.set()

    renders = render_targets(repository, held, targets, on_render=on_render)
    assert held.released_in_time
    assert handed == ["team-a-orders", "word-count"]
    assert [render.name for render in renders] == ["word-count", "team-a-orders"]
    assert all(render.ok for render in renders)
