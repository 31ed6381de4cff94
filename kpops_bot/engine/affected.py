"""What a change between two commits affects, per environment, as pipelines of the layouts they come from.

The one place that turns "these paths changed" into pipelines to render or act on: the dry run renders
`at_base` and `at_head`, a deploy acts on `to_deploy` and an apply also destroys `to_destroy`. kpops' file rules
decide first (`affected_side`); in a repository with custom components, a pipeline they leave out is still affected
when its render at the base read a changed file (`reached_through_reads`, from the render cache when it has them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from kpops_bot.changes import AffectedPipelines, affected_pipelines, outside_file_rules, read_by_render
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.targets import (
    Renderer,
    RenderTarget,
    UnknownPipelineError,
    layout_at,
    render_targets,
    select_pipelines,
)
from kpops_bot.model.render import PipelineRender, RenderSpec
from kpops_bot.pipelines import Pipeline, RepoLayout
from kpops_bot.workspace import CachedRepository


@dataclass(frozen=True)
class AffectedSide:
    """The affected pipelines of one environment between `base` and `head`, with the layouts they come from."""

    spec: RenderSpec
    base_layout: RepoLayout
    head_layout: RepoLayout
    affected: AffectedPipelines

    def at_base(self) -> list[Pipeline]:
        """What the change alters or removes, as defined before it."""
        return [self.base_layout.pipelines[name] for name in sorted(self.affected.changed | self.affected.removed)]

    def to_deploy(self) -> list[Pipeline]:
        """What the change alters or adds, as defined after it."""
        return [self.head_layout.pipelines[name] for name in sorted(self.affected.changed | self.affected.added)]

    def to_destroy(self) -> list[Pipeline]:
        """What the change removes, as defined before it."""
        return [self.base_layout.pipelines[name] for name in sorted(self.affected.removed)]


def affected_side(
    repository: CachedRepository, base: str, head: str, changed_paths: Sequence[str], spec: RenderSpec
) -> AffectedSide:
    base_layout = layout_at(repository, base, spec)
    head_layout = layout_at(repository, head, spec)
    affected = affected_pipelines(base_layout, head_layout, changed_paths, spec.environment)
    return AffectedSide(spec, base_layout, head_layout, affected)


Rendered = dict[tuple[str, str | None, str], PipelineRender]
"""Renders by (commit, environment, pipeline)."""


def render_key(target: RenderTarget) -> tuple[str, str | None, str]:
    return target.commit, target.spec.environment, target.pipeline.name


def beyond_file_rules(side: AffectedSide, changed_paths: Sequence[str]) -> list[str]:
    """Changed paths no file rule covers that a custom component could read; none without custom code."""
    if not (side.base_layout.custom_component_files() or side.head_layout.custom_component_files()):
        return []
    return list(outside_file_rules(side.base_layout, side.head_layout, changed_paths))


def reached_through_reads(
    repository: CachedRepository,
    pool: Renderer,
    cache: RenderCache | None,
    base: str,
    changed_paths: Sequence[str],
    side: AffectedSide,
    rendered: Rendered,
    only: Sequence[str] = (),
) -> AffectedSide:
    """`side` with the pipelines whose render at the base read a changed file; their base renders go to `rendered`.

    Only files no file rule covers are looked for: without custom code a render reads kpops' files and charts
    alone, and a custom component reading another pipeline's kpops files is not followed.
    """
    others = beyond_file_rules(side, changed_paths)
    if not others:
        return side
    candidates = [
        pipeline
        for name, pipeline in side.base_layout.pipelines.items()
        if name in side.head_layout.pipelines and name not in side.affected.changed
    ]
    if only:
        wanted = {p.name for p in _selected(side.base_layout, only)}
        candidates = [pipeline for pipeline in candidates if pipeline.name in wanted]
    targets = [RenderTarget(base, pipeline, side.spec, side.base_layout) for pipeline in candidates]
    reached: set[str] = set()
    for target, render in zip(targets, render_targets(repository, pool, targets, cache), strict=True):
        if _reaches(render, side, others):
            reached.add(target.pipeline.name)
            rendered[render_key(target)] = render
    affected = replace(side.affected, changed=side.affected.changed | reached)
    return replace(side, affected=affected)


def _reaches(render: PipelineRender, side: AffectedSide, changed_paths: Sequence[str]) -> bool:
    """A render whose reads are unknown may have read anything."""
    reads = render.reads
    if reads is None or reads.unobserved:
        return True
    files = set(reads.files)
    return read_by_render(side.base_layout, side.head_layout, changed_paths, files, reads.folders, reads.trees)


def _selected(layout: RepoLayout, only: Sequence[str]) -> list[Pipeline]:
    selected: list[Pipeline] = []
    for name in only:
        try:
            selected += select_pipelines(layout, [name])
        except UnknownPipelineError:
            continue
    return selected
