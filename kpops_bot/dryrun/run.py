"""The dry run of a change: affected pipelines between the merge base and the head, rendered on both sides, diffed.

This is what a pull request preview and `kpops-bot diff` do; the I/O (git, renders, cache) happens here, the
deciding in `changes` and `diff`. The base renders made to learn what a change reaches through custom components
(`affected.reached_through_reads`) are reused here.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kpops_bot.changes import AffectedPipelines
from kpops_bot.connectors import ConnectorSetup, with_connectors
from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.manifest_schemas import ManifestChecks, checked, checks_name
from kpops_bot.diff.model import DiffReport, KpopsSides, PipelineDiff
from kpops_bot.dryrun.forked import forked_map
from kpops_bot.dryrun.graph import with_impact
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.engine.affected import AffectedSide, Rendered, affected_side, reached_through_reads, render_key
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.targets import (
    Progress,
    Renderer,
    RenderTarget,
    UnknownPipelineError,
    check_environment,
    render_targets,
    select_pipelines,
)
from kpops_bot.model.policy import PolicyRevision, PolicySet
from kpops_bot.model.render import PipelineRender, RenderSpec
from kpops_bot.pipelines import PIPELINE, RepoLayout, kpops_file_names
from kpops_bot.policy.check import (
    EnvironmentGraph,
    Judged,
    changed_policies,
    check,
    note_changed,
    policy_sets,
    repository_policies,
    wants_graph,
)
from kpops_bot.sources import PipelineSources, SourceFiles
from kpops_bot.versions.environments import EnvironmentBuildError
from kpops_bot.versions.index import UnresolvablePinError
from kpops_bot.versions.pin import InvalidPinError
from kpops_bot.versions.upgrade import all_affected, migration_risks
from kpops_bot.workspace import CachedRepository, Workspace


def diff_revisions(
    workspace: Workspace,
    pool: Renderer,
    request: DiffRequest,
    options: DiffOptions | None = None,
    cache: RenderCache | None = None,
    progress: Progress | None = None,
    git_env: dict[str, str] | None = None,
) -> DiffReport:
    options = options or DiffOptions()
    repository = workspace.repository(request.source, git_env=git_env)
    head = repository.resolve(request.head)
    base = repository.merge_base(repository.resolve(request.base), head)
    changed_paths = repository.changed_paths(base, head)
    sets = _policy_sets(repository, head if request.policies_at is PolicyRevision.HEAD else base, options)
    if request.only_if_judged and not sets:
        return build_report(base, head, request.mode, list(request.environments), [], options.blocking_levels)
    releases = (_release(repository, pool, base), _release(repository, pool, head))
    # A head whose pin cannot be used (invalid, refused, unbuildable) renders every pipeline, each saying why:
    # otherwise a change to the pin alone would read "nothing to deploy".
    upgrade = releases[1] is None or (releases[0] is not None and releases[0] != releases[1])
    sides = [
        _side(repository, base, head, changed_paths, environment, request, upgrade=upgrade)
        for environment in request.environments
    ]
    rendered: Rendered = {}
    sides = [
        reached_through_reads(repository, pool, cache, base, changed_paths, side, rendered, request.only)
        for side in sides
    ]
    targets: list[RenderTarget] = []
    for side in sides:
        targets += [RenderTarget(base, pipeline, side.spec, side.base_layout) for pipeline in side.at_base()]
        targets += [RenderTarget(head, pipeline, side.spec, side.head_layout) for pipeline in side.to_deploy()]
    missing = [target for target in targets if render_key(target) not in rendered]
    head_files = SourceFiles(lambda path: repository.read(head, path), functools.partial(repository.read_many, head))
    head_files.prefetch(path for side in sides for name in side.affected.all for path in _source_paths(side, name))
    expected = {*rendered, *map(render_key, missing)}
    diffs = _Diffs((base, head), sides, options, head_files, expected, fork=request.fork_for_diffs)
    for key, render in rendered.items():
        diffs.arrived(key, render)
    facts = _ManifestFacts(options)

    def cached(left: int) -> None:
        if not left:  # a pool warmed up in case would take the second CPU from the diffs
            pool.rest()
        diffs.all_at_once()

    render_targets(repository, pool, missing, cache, progress, diffs.rendered, facts, on_cached=cached)
    diffs.all_at_once()
    by_target = diffs.by_target
    pipelines: list[PipelineDiff] = []
    judged: list[Judged] = []
    pairs: dict[str, tuple[PipelineRender | None, PipelineRender | None]] = {}
    wanted = wants_graph(sets)
    graphs: list[EnvironmentGraph] = []
    for index, side in enumerate(sides):
        environment = side.spec.environment
        for name in side.affected.all:
            diffed = diffs.result(index, name)
            pipelines.append(diffed.diff)
            judged.append(diffed)
            pairs[f"{name} ({environment})" if environment else name] = (diffed.base, diffed.head)
        # The rest of the repository is rendered at base only when a change touches a topic, or a change policy
        # reads the graph (dryrun/graph.py).
        located = functools.partial(_sources, head_files, side)
        built = with_impact(
            repository, pool, cache, (base, head), side, by_target, pipelines, options.masker, located, wanted=wanted
        )
        if built is not None and wanted:
            graphs.append(EnvironmentGraph(environment, *built))
    check(judged, sets, request.mode, options.policies, options.masker, graphs)
    if request.policies_at is PolicyRevision.MERGE_BASE:
        folder = options.policies.repository_folder
        note_changed([item.diff for item in judged], changed_policies(folder, changed_paths))
    kpops = KpopsSides(base=releases[0], head=releases[1])
    if upgrade and releases[0] and releases[1]:
        kpops.migration = [options.masker.mask_text(risk) for risk in migration_risks(releases[0], releases[1], pairs)]
    return build_report(base, head, request.mode, list(request.environments), pipelines, options.blocking_levels, kpops)


RenderKey = tuple[str, str | None, str]
Affected = tuple[int, str]  # a pipeline of one side (its index in the sides)


class _Diffs:
    """Each pipeline diffed as soon as the renders it needs are in (both sides, or the one it has), while the
    others still render: the diff stage overlaps rendering instead of following it."""

    def __init__(
        self,
        revisions: tuple[str, str],
        sides: Sequence[AffectedSide],
        options: DiffOptions,
        head_files: SourceFiles,
        expected: set[RenderKey],
        *,
        fork: bool = False,
    ) -> None:
        self.by_target: dict[RenderKey, PipelineRender] = {}
        self._sides, self._options, self._head_files = sides, options, head_files
        self._done: dict[Affected, Judged] = {}
        # Until `all_at_once`, a pipeline whose renders are in waits for it: renders known without rendering
        # (cached, or made before) are all there at once, and their diffs share both cores.
        self._gathering = True
        self._fork = fork  # share the gathered diffs with a fork of this process (`forked_map`)
        self._ready: list[Affected] = []
        self._keys: dict[Affected, tuple[RenderKey, RenderKey]] = {}
        # What each pipeline waits for: those of its two renders that will be made (or were already).
        self._waiting: dict[Affected, set[RenderKey]] = {}
        self._waiters: dict[RenderKey, list[Affected]] = {}
        for index, side in enumerate(sides):
            for name in side.affected.all:
                keys = self._keys[index, name] = (
                    (revisions[0], side.spec.environment, name),
                    (revisions[1], side.spec.environment, name),
                )
                self._waiting[index, name] = {key for key in keys if key in expected}
                for key in self._waiting[index, name]:
                    self._waiters.setdefault(key, []).append((index, name))

    def rendered(self, target: RenderTarget, render: PipelineRender) -> None:
        self.arrived(render_key(target), render)

    def arrived(self, key: RenderKey, render: PipelineRender) -> None:
        self.by_target[key] = render
        for pipeline in self._waiters.get(key, []):
            self._waiting[pipeline].discard(key)
            if not self._waiting[pipeline] and self._gathering:
                self._ready.append(pipeline)
            elif not self._waiting[pipeline]:
                # While renders still run, a failing diff waits: `result` makes it again after them, where it
                # fails as it did before the diff overlapped rendering.
                with contextlib.suppress(Exception):
                    self._done[pipeline] = self._diff(pipeline)

    def all_at_once(self) -> None:
        """The pipelines gathered so far, diffed at once (on both cores with `fork`); the next as they come."""
        ready, self._ready, self._gathering = self._ready, [], False
        made_here: dict[Affected, Judged] = {}
        diff_alone = functools.partial(self._diff_alone, made_here)
        diffs = forked_map(diff_alone, ready) if self._fork else [diff_alone(pipeline) for pipeline in ready]
        for pipeline, diff in zip(ready, diffs, strict=True):
            judged = made_here.get(pipeline)
            if judged is None and diff is not None:  # made by the child: its inputs are this process's too
                judged = Judged(diff, *self._inputs(pipeline))
            if judged is not None:
                self._done[pipeline] = judged

    def _diff_alone(self, made: dict[Affected, Judged], pipeline: Affected) -> PipelineDiff | None:
        """The pipeline's diff without its inputs (what a forked child sends back), the whole in `made`; None when
        it fails: `result` makes it again, where it fails as it would have."""
        try:
            judged = made[pipeline] = self._diff(pipeline)
        except Exception:
            return None
        return judged.diff

    def result(self, index: int, name: str) -> Judged:
        """The pipeline's diff, made now if no render of it was awaited (or its early diff failed)."""
        done = self._done.get((index, name))
        return done if done is not None else self._diff((index, name))

    def _diff(self, pipeline: Affected) -> Judged:
        index, name = pipeline
        base_render, head_render, sources = self._inputs(pipeline)
        checks = _ManifestFacts(self._options).checks(base_render, head_render)
        environment = self._sides[index].spec.environment
        diff = diff_pipeline(name, environment, base_render, head_render, self._options, sources, checks)
        return Judged(diff, base_render, head_render, sources)

    def _inputs(
        self, pipeline: Affected
    ) -> tuple[PipelineRender | None, PipelineRender | None, PipelineSources | None]:
        """Its base and head renders as a merge commits them, and its files at head."""
        index, name = pipeline
        side = self._sides[index]
        setup = self._options.connectors.for_environment(side.spec.environment)
        base_key, head_key = self._keys[pipeline]
        base_render = _with_connectors(self.by_target.get(base_key), setup, self._options)
        head_render = _with_connectors(self.by_target.get(head_key), setup, self._options)
        return base_render, head_render, _sources(self._head_files, side, name)


class _ManifestFacts:
    """The schema checks of a render's manifests, as facts the render cache stores with it (`RenderFacts`): a
    cached render is not validated again."""

    def __init__(self, options: DiffOptions) -> None:
        self._version = options.kubernetes_version
        self.name = checks_name(self._version)

    def __call__(self, render: PipelineRender) -> dict[str, list[dict[str, Any]]]:
        return checked((manifest for component in render.components for manifest in component.manifests), self._version)

    def checks(self, *renders: PipelineRender | None) -> ManifestChecks:
        stored = (render.fact(self.name) for render in renders if render is not None)
        return ManifestChecks.of(self._version, (facts for facts in stored if facts is not None))


def _policy_sets(repository: CachedRepository, commit: str, options: DiffOptions) -> list[PolicySet]:
    """What judges the change: the repository's folder as `commit` has it (`DiffRequest.policies_at`), and the
    bot's; a set without rules (only tests) judges nothing."""
    settings = options.policies
    found = repository_policies(
        settings.repository_folder, repository.files(commit), lambda path: repository.read(commit, path)
    )
    return [policies for policies in policy_sets(settings, found) if policies.modules]


def _with_connectors(
    render: PipelineRender | None, setup: ConnectorSetup, options: DiffOptions
) -> PipelineRender | None:
    """What a merge would commit: kpops' manifests plus, under `connectors: strimzi`, a KafkaConnector each."""
    return None if render is None else with_connectors(render, setup, options.masker)


def _release(repository: CachedRepository, pool: Renderer, commit: str) -> str | None:
    """The kpops release of `commit`; None when its pin is invalid or unresolvable (its renders say why)."""
    try:
        return pool.kpops_release(repository.files(commit), lambda path: repository.read(commit, path))
    except (InvalidPinError, UnresolvablePinError, EnvironmentBuildError):
        return None


def _sources(head_files: SourceFiles, side: AffectedSide, name: str) -> PipelineSources | None:
    """The pipeline's kpops files at head, for pointing risks at lines; None when the change removes it."""
    files = _source_files(side, name)
    if files is None:
        return None
    pipeline_files, defaults = files
    return PipelineSources(pipeline_files=head_files(pipeline_files), defaults_files=head_files(defaults))


def _source_paths(side: AffectedSide, name: str) -> list[str]:
    files = _source_files(side, name)
    return [] if files is None else [*files[0], *files[1]]


def _source_files(side: AffectedSide, name: str) -> tuple[list[str], list[str]] | None:
    """The pipeline's files and defaults files at head, a linked file at its target (whose lines hold what it
    sets); None when the change removes the pipeline."""
    pipeline = side.head_layout.pipelines.get(name)
    if pipeline is None:
        return None
    environment = side.spec.environment
    layout = side.head_layout
    pipeline_files = [
        path
        for file_name in kpops_file_names(PIPELINE, environment)
        if (path := f"{pipeline.folder}/{file_name}".removeprefix("./")) in layout.tree
    ]
    defaults = layout.defaults_files(pipeline, environment)
    return [layout.real_path(path) for path in pipeline_files], [layout.real_path(path) for path in defaults]


def _side(
    repository: CachedRepository,
    base: str,
    head: str,
    changed_paths: Sequence[str],
    environment: str | None,
    request: DiffRequest,
    *,
    upgrade: bool,
) -> AffectedSide:
    spec = RenderSpec(environment=environment, mode=request.mode, config_dir=request.config_dir)
    side = affected_side(repository, base, head, changed_paths, spec)
    if request.known_environments_only:
        check_environment(environment, side.base_layout, side.head_layout)
    if upgrade:  # another kpops renders every pipeline anew
        side = replace(side, affected=all_affected(side.base_layout.pipelines, side.head_layout.pipelines))
    if request.only:
        side = replace(side, affected=_restrict(side.affected, side.base_layout, side.head_layout, request.only))
    return side


def _restrict(
    affected: AffectedPipelines, base_layout: RepoLayout, head_layout: RepoLayout, only: Sequence[str]
) -> AffectedPipelines:
    """Only the named pipelines (by name or folder, at head or at base); an unknown name is an error."""
    wanted: set[str] = set()
    for name in only:
        try:
            wanted |= {pipeline.name for pipeline in select_pipelines(head_layout, [name])}
        except UnknownPipelineError:
            wanted |= {pipeline.name for pipeline in select_pipelines(base_layout, [name])}
    return replace(
        affected,
        added=affected.added & wanted,
        removed=affected.removed & wanted,
        changed=affected.changed & wanted,
    )
