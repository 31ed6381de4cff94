"""What a change between two commits affects, per environment, as pipelines of the layouts they come from.

The one place that turns "these paths changed" into pipelines to render or act on: the dry run renders
`at_base` and `at_head`, a deploy acts on `to_deploy` and an apply also destroys `to_destroy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.changes import AffectedPipelines, affected_pipelines
from kpops_bot.engine.model import RenderSpec
from kpops_bot.engine.targets import layout_at
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
