"""Which pipelines a change affects, by the rules kpops itself follows when it reads files.

A pure function of (the layout at base, the layout at head, the changed paths, the environment):
- `config.yaml` / `config_<env>.yaml` in the config folder, Python code (custom components) and any file of a
  Helm chart kept in the repository (a folder with a `Chart.yaml`, at base or head): every pipeline, since which
  pipeline loads a local chart is only known by rendering it (the render cache then serves the pipelines whose
  renders did not read the chart);
- `defaults.yaml` / `defaults_<env>.yaml` in folder D at or below `pipeline_base_dir`: every pipeline below D;
- `pipeline.yaml` / `pipeline_<env>.yaml`: that pipeline;
- a moved or deleted folder shows up as deleted and added paths: its pipelines are removed and added;
- symbolic links are followed (`symlinks.py`): a changed target affects every pipeline reading a file that links to
  it, through linked folders and chains of links too, and a link added, removed or pointed elsewhere affects every
  pipeline reading a file through it. A pipeline whose `pipeline.yaml` is a link takes the defaults above its target.
Links are followed through each side's layout, which says which pipeline reads which kpops file
(`RepoLayout.input_files`, by the rules above) and which git paths make that file (`RepoLayout.git_paths`); a
change affects a pipeline when it touches one of them, at base or at head.
Files of another environment (`defaults_prod.yaml` when rendering `dev`) affect nothing, and neither do a
`defaults.yaml` above `pipeline_base_dir` or a `.env` (kpops reads dotenv files only when given `--dotenv`).

The rules are the same for every kpops release the bot renders with (8.1.4 to 12), so they take no release:
in each, `YamlConfigSettingsSource` reads `config.yaml` then `config_<env>.yaml` from the config folder,
`PipelineGenerator.load_yaml` reads `pipeline.yaml` and `pipeline_<env>.yaml` (its `with_stem`), and
`get_defaults_file_paths` walks from the pipeline's folder up to and including `pipeline_base_dir`, taking
`defaults_<env>.yaml` before `defaults.yaml` in each; `KpopsConfig.create` passes `_env_file` only from
`--dotenv`. Between the releases those functions differ in logging and typing alone.
`tests/versions/test_rules.py` renders with each release and checks that what it opened is exactly what these
rules give, and that the files they call irrelevant do not change its render. A release whose rules differ
would make the layout take the release of its revision.

Custom component code can read any file of the repository. What a render of a pipeline did read (files,
listed folders, local charts, recorded by `engine/reads.py`) makes it affected by a change to any of those:
`read_by_render` decides that, on the reads of its render at the base, for the paths `outside_file_rules`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
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

_KPOPS_FILE = re.compile(rf"^({CONFIG}|{PIPELINE}|{DEFAULTS})(_[^/]+)?\.yaml$")


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
    sides = [(layout, layout.dependents(environment)) for layout in (base, head)]
    for path in changed_paths:
        for layout, dependents in sides:
            touched |= _touched_by(layout, dependents, normalise_dir(path), environment)
    in_base, in_head = set(base.pipelines), set(head.pipelines)
    return AffectedPipelines(
        added=frozenset(touched & (in_head - in_base)),
        removed=frozenset(touched & (in_base - in_head)),
        changed=frozenset(touched & in_base & in_head),
    )


def _touched_by(layout: RepoLayout, dependents: dict[str, set[str]], path: str, environment: str | None) -> set[str]:
    """By the rules, then through links: what reads a file whose content or path the change makes."""
    file = PurePosixPath(path)
    folder = normalise_dir(str(file.parent))
    if is_custom_code(path) or layout.in_chart_folder(path):
        return set(layout.pipelines)
    if folder == layout.config_dir and file.name in kpops_file_names(CONFIG, environment):
        return set(layout.pipelines)
    touched = set(dependents.get(path, ()))
    if file.name in kpops_file_names(DEFAULTS, environment) and is_below(folder, layout.pipeline_base_dir):
        touched |= {name for name, pipeline in layout.pipelines.items() if is_below(pipeline.folder, folder)}
    if file.name in kpops_file_names(PIPELINE, environment):
        touched |= {name for name, pipeline in layout.pipelines.items() if pipeline.folder == folder}
    return touched


def outside_file_rules(base: RepoLayout, head: RepoLayout, changed_paths: Iterable[str]) -> list[str]:
    """Changed paths that are no kpops file (of any environment), no custom code and no part of a local chart."""
    return [
        path
        for path in map(normalise_dir, changed_paths)
        if not (_KPOPS_FILE.match(PurePosixPath(path).name) or is_custom_code(path))
        and not (base.in_chart_folder(path) or head.in_chart_folder(path))
    ]


def read_by_render(
    base: RepoLayout,
    head: RepoLayout,
    changed_paths: Iterable[str],
    files: Collection[str],
    folders: Collection[str],
    trees: Collection[str],
) -> bool:
    """Whether the change touches what a render read: a file it opened, an entry of a folder it listed (a file
    added or removed there), anything in a folder it read whole."""
    for path in map(normalise_dir, changed_paths):
        if path in files or any(is_below(path, tree) for tree in trees):
            return True
        if any(_entry_changed(base, head, path, folder) for folder in folders if is_below(path, folder)):
            return True
    return False


def _entry_changed(base: RepoLayout, head: RepoLayout, path: str, folder: str) -> bool:
    relative = path if folder == "." else path[len(folder) + 1 :]
    entry = _join_entry(folder, relative.split("/", 1)[0])
    return _exists(base, entry) != _exists(head, entry)


def _join_entry(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def _exists(layout: RepoLayout, entry: str) -> bool:
    return entry in layout.files or any(path.startswith(entry + "/") for path in layout.files)
