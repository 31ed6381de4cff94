"""Render pipelines of a repository at a revision: workspace → layout → fork-server renders."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from kpops_bot.engine.cache import RenderCache, cache_key
from kpops_bot.engine.model import PipelineRender, RenderSpec
from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.pipelines import Pipeline, RepoLayout, normalise_dir
from kpops_bot.workspace import CachedRepository, Workspace


class UnknownPipelineError(ValueError):
    """A pipeline asked for by name that the revision does not have."""


Progress = Callable[[int, int, PipelineRender], None]


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
    return RepoLayout.of(
        repository.files(commit),
        lambda path: repository.read(commit, path),
        config_dir=spec.config_dir,
        environment=spec.environment,
    )


@dataclass(frozen=True)
class RenderTarget:
    """One pipeline of one commit, rendered as `spec` says."""

    commit: str
    pipeline: Pipeline
    spec: RenderSpec
    layout: RepoLayout  # of the commit, as read for `spec`: which files the pipeline depends on


def render_targets(
    repository: CachedRepository,
    pool: RenderPool,
    targets: Sequence[RenderTarget],
    cache: RenderCache | None = None,
    progress: Progress | None = None,
) -> list[PipelineRender]:
    """Render every target in parallel (several commits at once), results in the order of the targets.

    Cached renders are reused; a commit is checked out only when one of its targets must really be rendered.
    """
    results: list[PipelineRender | None] = [None] * len(targets)
    commits = dict.fromkeys(target.commit for target in targets) if cache is not None else {}
    blobs = {commit: repository.blobs(commit) for commit in commits}
    keys = _cache_keys(pool, targets, blobs) if cache is not None else []
    if cache is not None:
        results = [cache.get(key, t.commit, blobs[t.commit]) for key, t in zip(keys, targets, strict=True)]
    done = 0
    for result in results:
        if result is not None and progress is not None:
            done += 1
            progress(done, len(targets), result)
    missing = [index for index, result in enumerate(results) if result is None]
    with ExitStack() as stack:
        roots = {
            commit: stack.enter_context(repository.checkout(commit))
            for commit in dict.fromkeys(targets[index].commit for index in missing)
        }
        futures = {pool.submit(_request(targets[index], roots[targets[index].commit])): index for index in missing}
        for future in as_completed(futures):
            index = futures[future]
            result = future.result()
            results[index] = result
            if cache is not None and _answers(targets[index], result):
                cache.put(keys[index], result, blobs[targets[index].commit])
            if progress is not None:
                done += 1
                progress(done, len(targets), result)
    return [result for result in results if result is not None]


def _request(target: RenderTarget, root: Path) -> RenderRequest:
    return RenderRequest(
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


def _cache_keys(pool: RenderPool, targets: Sequence[RenderTarget], blobs: dict[str, dict[str, str]]) -> list[str]:
    fingerprint = pool.settings.render_fingerprint()
    return [
        cache_key(target.layout, blobs[target.commit], target.pipeline, target.spec, fingerprint) for target in targets
    ]


def render_revision(
    workspace: Workspace,
    pool: RenderPool,
    source: str,
    revision: str,
    wanted: Sequence[str],
    spec: RenderSpec,
    progress: Progress | None = None,
) -> list[PipelineRender]:
    """Render the wanted pipelines (all when none) of `source` at `revision`, in parallel, in name order."""
    repository = workspace.repository(source)
    commit = repository.resolve(revision)
    layout = layout_at(repository, commit, spec)
    targets = [RenderTarget(commit, pipeline, spec, layout) for pipeline in select_pipelines(layout, wanted)]
    return render_targets(repository, pool, targets, progress=progress)
