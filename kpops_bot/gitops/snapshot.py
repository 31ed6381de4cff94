"""The GitOps target as it is: each environment folder's pipeline folders and their resource files, read from a
fresh clone of the target branch. Links are never followed (the target's content is not trusted)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from kpops_bot.drift import Folders
from kpops_bot.gitops.layout import KUSTOMIZATION, pipeline_folder
from kpops_bot.gitops.publish import clone
from kpops_bot.gitops.target import Target

_MAX_FILE_BYTES = 4 * 1024 * 1024


def environment_folders(target: Target, root: str, environments: Iterable[str | None]) -> Folders:
    """`folder → file → content` for every pipeline folder below each environment's folder of the layout."""
    with tempfile.TemporaryDirectory(prefix="kpops-bot-drift-") as scratch:
        clone(target, Path(scratch))
        checkout = Path(scratch)
        folders: dict[str, dict[str, str]] = {}
        for environment in environments:
            base = pipeline_folder(root, environment, "")
            environment_folder = checkout / base
            if environment_folder.is_symlink() or not environment_folder.is_dir():
                continue
            for folder in sorted(environment_folder.iterdir()):
                if folder.is_dir() and not folder.is_symlink():
                    folders[f"{base}/{folder.name}".lstrip("/")] = _resource_files(folder)
        return folders


def _resource_files(folder: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name == KUSTOMIZATION or path.is_symlink() or not path.is_file():
            continue
        if path.stat().st_size > _MAX_FILE_BYTES:
            files[path.name] = f"(a file of {path.stat().st_size} bytes, not compared)"
            continue
        files[path.name] = path.read_text(errors="replace")
    return files
