"""The pipelines of a deployment repository and the files each one is made of, as kpops sees them.

Pure functions of a revision's file list and its config text: no git, no kpops. A pipeline is a folder below
`pipeline_base_dir` holding a `pipeline.yaml`; its name is the folder's path relative to the base joined with
"-" (`team-a/orders` → `team-a-orders`). kpops reads, for a pipeline in an environment: `config.yaml` and
`config_<env>.yaml` in the config folder, `pipeline.yaml` and `pipeline_<env>.yaml`, and `defaults_<env>.yaml`
then `defaults.yaml` in every folder from the pipeline's up to and including `pipeline_base_dir`.

Paths are as a checkout shows them (`symlinks.py`): a folder that links to another is a pipeline folder of its own
(the bot renders each pipeline by its path), a linked kpops file is read at its target. kpops resolves a pipeline's
path before it walks up for defaults, so a pipeline whose `pipeline.yaml` is a link takes the defaults above its
target.

A render also reads Helm charts kept in the repository: helm loads a chart from a local folder whenever the chart
reference kpops passes (`<repo_config.repository_name>/<chart>`, or what a custom component's `helm_chart`
returns) is an existing path. Which pipeline does that is only known by rendering (names can be substituted or
computed), so every folder holding a `Chart.yaml` is a chart folder that any pipeline may read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath

import yaml

from kpops_bot.bounded_yaml import load_bounded
from kpops_bot.symlinks import Seen, visible_tree

PIPELINE = "pipeline"
DEFAULTS = "defaults"
CONFIG = "config"


def normalise_dir(path: str) -> str:
    """A repository-relative folder in one spelling: no `./`, no leading or trailing `/`, `.` for the root."""
    parts = [part for part in PurePosixPath(path.strip()).parts if part not in (".", "", "/")]
    return "/".join(parts) or "."


def is_below(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or inside it (both normalised)."""
    return folder in (".", path) or path.startswith(folder + "/")


def kpops_file_names(kind: str, environment: str | None) -> tuple[str, ...]:
    """`kind.yaml` and, for an environment, `kind_<env>.yaml`: the files of one kind kpops reads."""
    return (f"{kind}_{environment}.yaml", f"{kind}.yaml") if environment else (f"{kind}.yaml",)


def read_pipeline_base_dir(read: Callable[[str], str | None], config_dir: str, environment: str | None) -> str:
    """`pipeline_base_dir` from the config files (the environment's file wins); `.` when unset or unreadable.

    An unreadable config is reported by the render itself; here it only must not hide the pipelines.
    """
    config_dir = normalise_dir(config_dir)
    for name in kpops_file_names(CONFIG, environment):
        text = read(_join(config_dir, name))
        if text is None:
            continue
        try:
            loaded = load_bounded(text, name)
        except yaml.YAMLError:
            continue
        if isinstance(loaded, dict) and isinstance(loaded.get("pipeline_base_dir"), str):
            return normalise_dir(loaded["pipeline_base_dir"])
    return "."


@dataclass(frozen=True)
class Pipeline:
    name: str
    folder: str

    @property
    def pipeline_file(self) -> str:
        return _join(self.folder, "pipeline.yaml")


@dataclass(frozen=True)
class RepoLayout:
    """One revision of a deployment repository: its files and where kpops looks for them."""

    files: frozenset[str]  # git paths, links included
    pipeline_base_dir: str = "."
    config_dir: str = "."
    links: Mapping[str, str] = field(default_factory=dict, hash=False)  # link path → target, as git keeps it

    @classmethod
    def of(
        cls,
        files: Iterable[str],
        read: Callable[[str], str | None],
        config_dir: str = ".",
        environment: str | None = None,
        links: Mapping[str, str] | None = None,
    ) -> RepoLayout:
        """`read` gives a git path's content; a linked config file is read at its target."""
        files = frozenset(files)
        links = dict(links or {})
        tree = visible_tree(files, links)

        def read_shown(path: str) -> str | None:
            seen = tree.get(path)
            return read(seen.real) if seen is not None and seen.real is not None else None

        return cls(
            files=files,
            pipeline_base_dir=read_pipeline_base_dir(read_shown, config_dir, environment),
            config_dir=normalise_dir(config_dir),
            links=links,
        )

    @cached_property
    def environments(self) -> list[str]:
        """The environments the revision has files for: the suffixes of `config_<env>.yaml`, `defaults_<env>.yaml`
        and `pipeline_<env>.yaml` anywhere in the checkout, sorted."""
        found = set()
        for path in self.tree:
            stem, _, extension = PurePosixPath(path).name.partition(".")
            kind, separator, environment = stem.partition("_")
            if separator and environment and extension == "yaml" and kind in (CONFIG, DEFAULTS, PIPELINE):
                found.add(environment)
        return sorted(found)

    @cached_property
    def tree(self) -> dict[str, Seen]:
        """Every path a checkout shows, with the git paths it is made of."""
        return visible_tree(self.files, self.links)

    def real_path(self, path: str) -> str:
        """The git path holding the content a checkout shows at `path` (`path` itself when no link leads there)."""
        seen = self.tree.get(path)
        return seen.real if seen is not None and seen.real is not None else path

    def git_paths(self, paths: Iterable[str]) -> list[str]:
        """The git paths whose content makes what a checkout shows at `paths`: each, its target, the links between."""
        found: set[str] = set()
        for path in paths:
            seen = self.tree.get(path)
            found.update(seen.git_paths(path) if seen is not None else [path])
        return sorted(found)

    def dependents(self, environment: str | None) -> dict[str, set[str]]:
        """Git path → the pipelines whose kpops files (`input_files`) it makes, through links too."""
        found: dict[str, set[str]] = {}
        for name, pipeline in self.pipelines.items():
            for path in self.git_paths(self.input_files(pipeline, environment)):
                found.setdefault(path, set()).add(name)
        return found

    @cached_property
    def pipelines(self) -> dict[str, Pipeline]:
        """Pipelines by name, sorted by name. A `pipeline.yaml` directly in the base folder is no pipeline.

        When folders share a name (see `name_conflicts`) the first folder in sorted order holds it, whatever the
        order of `files`.
        """
        return {name: Pipeline(name, folders[0]) for name, folders in self._folders_by_name.items()}

    @cached_property
    def name_conflicts(self) -> dict[str, list[str]]:
        """Pipeline names that several folders give (`team-a/orders` and `team-a-orders`) → those folders."""
        return {name: folders for name, folders in self._folders_by_name.items() if len(folders) > 1}

    @cached_property
    def _folders_by_name(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for path in sorted(self.tree):
            file = PurePosixPath(path)
            folder = normalise_dir(str(file.parent))
            if file.name != "pipeline.yaml" or folder == self.pipeline_base_dir:
                continue
            if not is_below(folder, self.pipeline_base_dir):
                continue
            relative = folder if self.pipeline_base_dir == "." else folder[len(self.pipeline_base_dir) + 1 :]
            found.setdefault("-".join(PurePosixPath(relative).parts), []).append(folder)
        return dict(sorted(found.items()))

    def config_files(self, environment: str | None) -> list[str]:
        names = kpops_file_names(CONFIG, environment)
        return [path for name in reversed(names) if (path := _join(self.config_dir, name)) in self.tree]

    def defaults_files(self, pipeline: Pipeline, environment: str | None) -> list[str]:
        """Defaults files of a pipeline, nearest folder first, `defaults_<env>.yaml` before `defaults.yaml`; from
        the folder of its `pipeline.yaml`'s target up, as kpops resolves the path first."""
        found: list[str] = []
        folder = normalise_dir(str(PurePosixPath(self.real_path(pipeline.pipeline_file)).parent))
        while True:
            found += [
                path for name in kpops_file_names(DEFAULTS, environment) if (path := _join(folder, name)) in self.tree
            ]
            if folder in (self.pipeline_base_dir, "."):
                return found
            folder = normalise_dir(str(PurePosixPath(folder).parent))

    def input_files(self, pipeline: Pipeline, environment: str | None) -> list[str]:
        """Every kpops file that shapes the pipeline, in the order kpops reads them."""
        pipeline_files = [
            path
            for name in reversed(kpops_file_names(PIPELINE, environment))
            if (path := _join(pipeline.folder, name)) in self.tree
        ]
        return self.config_files(environment) + pipeline_files + self.defaults_files(pipeline, environment)

    @cached_property
    def chart_folders(self) -> frozenset[str]:
        """Folders holding a `Chart.yaml`: Helm charts a render may load by path."""
        return frozenset(normalise_dir(str(PurePosixPath(path).parent)) for path in self.files if _is_chart_file(path))

    def in_chart_folder(self, path: str) -> bool:
        """Whether `path` belongs to a chart kept in the repository (the chart of any folder above it)."""
        folder = PurePosixPath(path).parent
        return any(normalise_dir(str(parent)) in self.chart_folders for parent in (folder, *folder.parents))

    def custom_component_files(self) -> list[str]:
        """Python code kpops may import: custom components below `kpops/` and any module they import."""
        return list(self._custom_code)

    @cached_property
    def _custom_code(self) -> tuple[str, ...]:
        """Once per layout: every render's cache key holds these files."""
        return tuple(sorted(path for path in self.files if is_custom_code(path)))


_CODE_SUFFIXES = (".py", ".pyc", ".pyd", ".so", ".pth")


def is_custom_code(path: str) -> bool:
    """Files Python can import or run from a checkout: custom components and what they import."""
    return path.startswith("kpops/") or path.endswith(_CODE_SUFFIXES)


def _is_chart_file(path: str) -> bool:
    return PurePosixPath(path).name == "Chart.yaml"


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"
