"""Render pipelines of a repository at a revision: workspace → layout → fork-server renders."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, as_completed
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kpops_bot.engine.cache import RenderCache, RenderFacts, cache_key
from kpops_bot.engine.pool import RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.model.render import ErrorKind, PipelineRender, RenderError, RenderSpec
from kpops_bot.pipelines import Pipeline, RepoLayout, normalise_dir
from kpops_bot.symlinks import TooManyPathsError
from kpops_bot.versions.environments import EnvironmentBuildError
from kpops_bot.versions.index import UnresolvablePinError
from kpops_bot.versions.pin import InvalidPinError
from kpops_bot.workspace import CachedRepository, Workspace, WorkspaceError


class UnknownPipelineError(ValueError):
    """A pipeline asked for by name that the revision does not have."""


class UnknownEnvironmentError(UnknownPipelineError):
    """An environment asked for that no file of the revision names; handled like an unknown pipeline name."""


def check_environment(environment: str | None, *layouts: RepoLayout) -> None:
    """`environment` must have a file (`config_<env>.yaml`, `defaults_<env>.yaml`, `pipeline_<env>.yaml`) in one
    of `layouts`: kpops renders an environment it has no file for, silently as if none were given."""
    if environment is None:
        return
    known = sorted({name for layout in layouts for name in layout.environments})
    if environment not in known:
        close = difflib.get_close_matches(environment, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        listing = ", ".join(known) if known else "none"
        msg = f"unknown environment '{environment}'.{hint} Environments at this revision: {listing}"
        raise UnknownEnvironmentError(msg)


class PipelineNameConflictError(UnknownPipelineError):
    """Two folders give one pipeline name, so a name does not say which is meant; handled like an unknown name."""


Progress = Callable[[int, int, PipelineRender], None]


class Renderer(Protocol):
    """What rendering needs of a pool: its settings (part of every cache key) and a way to submit a render.
    A `RenderPool`, or a `LazyPool` that starts one only when a render is not cached."""

    @property
    def settings(self) -> EngineSettings: ...

    def kpops_release(self, files: Sequence[str], read: Callable[[str], str | None]) -> str: ...

    def submit(self, request: RenderRequest) -> Future[PipelineRender]: ...

    def rest(self) -> None:
        """Nothing is left to render for now: a pool started ahead of need may stop (a later render starts one)."""


def select_pipelines(layout: RepoLayout, wanted: Sequence[str]) -> list[Pipeline]:
    """Pipelines by kpops name or by folder (relative to the repository root or to `pipeline_base_dir`)."""
    if not wanted:
        return list(layout.pipelines.values())
    by_folder = {pipeline.folder: pipeline for pipeline in layout.pipelines.values()}
    base = layout.pipeline_base_dir
    selected: list[Pipeline] = []
    for name in wanted:
        folder = normalise_dir(name.removesuffix("/pipeline.yaml"))
        pipeline = (
            layout.pipelines.get(name) or by_folder.get(folder) or by_folder.get(normalise_dir(f"{base}/{folder}"))
        )
        if pipeline is None:
            raise UnknownPipelineError(_unknown_message(name, list(layout.pipelines)))
        if pipeline not in selected:
            selected.append(pipeline)
    return selected


def _unknown_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(known) if known else "none"
    return f"unknown pipeline '{name}'.{hint} Pipelines at this revision: {listing}"


def layout_at(repository: CachedRepository, commit: str, spec: RenderSpec) -> RepoLayout:
    """The commit's layout, links followed; folders that give one pipeline name are a `PipelineNameConflictError`
    naming them, links that show too many paths a `WorkspaceError`."""
    try:
        layout = RepoLayout.of(
            repository.files(commit),
            lambda path: repository.read(commit, path),
            config_dir=spec.config_dir,
            environment=spec.environment,
            links=repository.links(commit),
        )
    except TooManyPathsError as error:
        raise WorkspaceError(f"the files at {commit[:12]} cannot be listed: {error}") from error
    if layout.name_conflicts:
        clashes = "; ".join(
            f"'{name}' is given by " + " and ".join(f"'{folder}/'" for folder in folders)
            for name, folders in layout.name_conflicts.items()
        )
        msg = f"folders give one pipeline name at {commit[:12]}: {clashes}. Rename one of them."
        raise PipelineNameConflictError(msg)
    return layout


@dataclass(frozen=True)
class RenderTarget:
    """One pipeline of one commit, rendered as `spec` says."""

    commit: str
    pipeline: Pipeline
    spec: RenderSpec
    layout: RepoLayout  # of the commit, as read for `spec`: which files the pipeline depends on


def render_targets(
    repository: CachedRepository,
    pool: Renderer,
    targets: Sequence[RenderTarget],
    cache: RenderCache | None = None,
    progress: Progress | None = None,
    on_render: Callable[[RenderTarget, PipelineRender], None] | None = None,
    facts: RenderFacts | None = None,
    on_cached: Callable[[int], None] | None = None,
) -> list[PipelineRender]:
    """Render every target in parallel (several commits at once), results in the order of the targets.

    Cached renders are reused; a commit is checked out only when one of its targets must really be rendered.
    `on_render` is called with each target's render as soon as it is known (cached or done), in the caller's
    thread, so that work on finished renders overlaps the renders still running; `on_cached` once every render
    known without rendering was handed on, before any render starts, with how many renders are left to make.
    With a cache, each render carries its `facts`, made once and stored with it.
    """
    results: list[PipelineRender | None] = [None] * len(targets)
    releases = _releases(repository, pool, targets)
    for index, target in enumerate(targets):
        release = releases[target.commit]
        if isinstance(release, RenderError):
            results[index] = _unrenderable(target, release)
    commits = dict.fromkeys(target.commit for target in targets) if cache is not None else {}
    blobs = {commit: repository.blobs(commit) for commit in commits}
    keys = _cache_keys(pool, targets, blobs, releases) if cache is not None else []
    if cache is not None:
        results = [
            result or cache.get(key, t.commit, blobs[t.commit], facts)
            for result, key, t in zip(results, keys, targets, strict=True)
        ]
    done = 0
    for target, result in zip(targets, results, strict=True):
        if result is None:
            continue
        if progress is not None:
            done += 1
            progress(done, len(targets), result)
        if on_render is not None:
            on_render(target, result)
    missing = [index for index, result in enumerate(results) if result is None]
    if on_cached is not None:
        on_cached(len(missing))
    left_out: dict[str, list[str]] = {}
    to_render = [targets[index] for index in missing]
    with ExitStack() as stack:
        roots = {
            commit: stack.enter_context(
                repository.checkout(commit, left_out.setdefault(commit, []), only=files_read(to_render, commit))
            )
            for commit in dict.fromkeys(target.commit for target in to_render)
        }
        futures = {
            pool.submit(_request(targets[index], roots[targets[index].commit], releases[targets[index].commit])): index
            for index in missing
        }
        for future in as_completed(futures):
            index = futures[future]
            result = future.result()
            result.notes.extend(left_out[targets[index].commit])
            results[index] = result
            if cache is not None and _answers(targets[index], result):
                cache.put(keys[index], result, blobs[targets[index].commit], facts)
            if progress is not None:
                done += 1
                progress(done, len(targets), result)
            if on_render is not None:
                on_render(targets[index], result)
    return [result for result in results if result is not None]


def files_read(targets: Sequence[RenderTarget], commit: str) -> set[str] | None:
    """The only files the renders of `commit` among `targets` read, when the revision holds nothing but kpops'
    own files and data: no custom component code, no Helm chart of its own, no link (a link leaving the repository
    is noted in every render of the commit); None (the whole tree) otherwise.

    Then a render reads its pipeline's kpops files (`RepoLayout.input_files`) and nothing else of the checkout, for
    every kpops release the bot renders with (`tests/versions/test_rules.py` checks it per release).
    """
    mine = [target for target in targets if target.commit == commit]
    layouts = {id(target.layout): target.layout for target in mine}.values()
    if any(layout.custom_component_files() or layout.chart_folders or layout.links for layout in layouts):
        return None
    return {path for target in mine for path in target.layout.input_files(target.pipeline, target.spec.environment)}


def _releases(
    repository: CachedRepository, pool: Renderer, targets: Sequence[RenderTarget]
) -> dict[str, str | RenderError]:
    """The kpops release of each commit, or why none can render it (an invalid or unresolvable pin)."""
    releases: dict[str, str | RenderError] = {}
    for commit in dict.fromkeys(target.commit for target in targets):
        try:
            releases[commit] = pool.kpops_release(repository.files(commit), lambda path: repository.read(commit, path))  # noqa: B023 -- used at once
        except (InvalidPinError, UnresolvablePinError, EnvironmentBuildError) as error:
            releases[commit] = RenderError(message=str(error), kind=ErrorKind.CONFIG)
    return releases


def _unrenderable(target: RenderTarget, error: RenderError) -> PipelineRender:
    spec = target.spec
    return PipelineRender(
        name=target.pipeline.name,
        pipeline_file=target.pipeline.pipeline_file,
        revision=target.commit,
        environment=spec.environment,
        mode=spec.mode,
        operation=spec.operation,
        error=error,
    )


def _request(target: RenderTarget, root: Path, release: str | RenderError) -> RenderRequest:
    return RenderRequest(
        kpops_version=release if isinstance(release, str) else None,
        pipeline=target.pipeline.name,
        pipeline_file=target.pipeline.pipeline_file,
        checkout=root,
        revision=target.commit,
        environment=target.spec.environment,
        mode=target.spec.mode,
        operation=target.spec.operation,
        config_dir=target.spec.config_dir,
    )


def _answers(target: RenderTarget, render: PipelineRender) -> bool:
    """The render is of what was asked: a render process that answers for another pipeline is not stored."""
    spec = target.spec
    asked = (target.pipeline.name, target.pipeline.pipeline_file, target.commit, spec.environment, spec.mode)
    answered = (render.name, render.pipeline_file, render.revision, render.environment, render.mode)
    return answered == asked and render.operation is spec.operation


def _cache_keys(
    pool: Renderer,
    targets: Sequence[RenderTarget],
    blobs: dict[str, dict[str, str]],
    releases: dict[str, str | RenderError],
) -> list[str]:
    fingerprint = pool.settings.render_fingerprint()
    return [
        cache_key(
            target.layout, blobs[target.commit], target.pipeline, target.spec, fingerprint, str(releases[target.commit])
        )
        for target in targets
    ]


def render_revision(
    workspace: Workspace,
    pool: Renderer,
    source: str,
    revision: str,
    wanted: Sequence[str],
    spec: RenderSpec,
    progress: Progress | None = None,
) -> list[PipelineRender]:
    """Render the wanted pipelines (all when none) of `source` at `revision`, in parallel, in name order; an
    environment the revision has no file for is an `UnknownEnvironmentError`."""
    repository = workspace.repository(source)
    commit = repository.resolve(revision)
    layout = layout_at(repository, commit, spec)
    check_environment(spec.environment, layout)
    targets = [RenderTarget(commit, pipeline, spec, layout) for pipeline in select_pipelines(layout, wanted)]
    return render_targets(repository, pool, targets, progress=progress)
