"""Render pipelines of a repository at a revision: workspace → layout → fork-server renders."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass

from kpops_bot.engine.model import Mode, Operation, PipelineRender
from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.pipelines import Pipeline, RepoLayout, normalise_dir
from kpops_bot.workspace import CachedRepository, Workspace


class UnknownPipelineError(ValueError):
    """A pipeline asked for by name that the revision does not have."""


@dataclass(frozen=True)
class RenderSpec:
    """What to render, apart from where."""

    environment: str | None = None
    mode: Mode = Mode.MANIFEST
    operation: Operation = Operation.DEPLOY
    config_dir: str = "."


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
    pipelines = select_pipelines(layout_at(repository, commit, spec), wanted)
    with repository.checkout(commit) as root:
        requests = [
            RenderRequest(
                pipeline=pipeline.name,
                pipeline_file=pipeline.pipeline_file,
                checkout=root,
                revision=commit,
                environment=spec.environment,
                mode=spec.mode,
                operation=spec.operation,
                config_dir=spec.config_dir,
            )
            for pipeline in pipelines
        ]
        futures = {pool.submit(request): index for index, request in enumerate(requests)}
        results: list[PipelineRender | None] = [None] * len(requests)
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results[futures[future]] = result
            if progress is not None:
                progress(done, len(requests), result)
    return [result for result in results if result is not None]
