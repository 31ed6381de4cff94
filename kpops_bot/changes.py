"""Which pipelines a change affects, by the rules kpops itself follows when it reads files.

A pure function of (the layout at base, the layout at head, the changed paths, the environment):
- `config.yaml` / `config_<env>.yaml` in the config folder, Python code (custom components) and any file of a
  Helm chart kept in the repository (a folder with a `Chart.yaml`, at base or head): every pipeline, since which
  pipeline loads a local chart is only known by rendering it (the render cache then serves the pipelines whose
  renders did not read the chart);
- `defaults.yaml` / `defaults_<env>.yaml` in folder D at or below `pipeline_base_dir`: every pipeline below D;
- `pipeline.yaml` / `pipeline_<env>.yaml`: that pipeline;
- a moved or deleted folder shows up as deleted and added paths: its pipelines are removed and added.
Files of another environment (`defaults_prod.yaml` when rendering `dev`) affect nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from kpops_bot.pipelines import (
    CONFIG,
    DEFAULTS,
    PIPELINE,
    RepoLayout,
    is_below,
    is_custom_code,
    kpops_file_names,
    normalise_dir,
)


@dataclass(frozen=True)
class AffectedPipelines:
    """Pipeline names by what happened to them; every name is in exactly one set."""

    added: frozenset[str] = field(default_factory=frozenset)
    removed: frozenset[str] = field(default_factory=frozenset)
    changed: frozenset[str] = field(default_factory=frozenset)

    @property
    def all(self) -> list[str]:
        return sorted(self.added | self.removed | self.changed)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def affected_pipelines(
    base: RepoLayout, head: RepoLayout, changed_paths: Iterable[str], environment: str | None = None
) -> AffectedPipelines:
    touched: set[str] = set()
    for path in changed_paths:
        for layout in (base, head):
            touched |= _touched_by(layout, normalise_dir(path), environment)
    in_base, in_head = set(base.pipelines), set(head.pipelines)
    return AffectedPipelines(
        added=frozenset(touched & (in_head - in_base)),
        removed=frozenset(touched & (in_base - in_head)),
        changed=frozenset(touched & in_base & in_head),
    )


def _touched_by(layout: RepoLayout, path: str, environment: str | None) -> set[str]:
    file = PurePosixPath(path)
    folder = normalise_dir(str(file.parent))
    if is_custom_code(path) or layout.in_chart_folder(path):
        return set(layout.pipelines)
    if folder == layout.config_dir and file.name in kpops_file_names(CONFIG, environment):
        return set(layout.pipelines)
    if file.name in kpops_file_names(DEFAULTS, environment) and is_below(folder, layout.pipeline_base_dir):
        return {name for name, pipeline in layout.pipelines.items() if is_below(pipeline.folder, folder)}
    if file.name in kpops_file_names(PIPELINE, environment):
        return {name for name, pipeline in layout.pipelines.items() if pipeline.folder == folder}
    return set()
