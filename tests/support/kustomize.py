"""Real kustomize over what the bot committed: every folder with a `kustomization.yaml` on a branch of a (bare)
repository is built with `kubectl kustomize` (kubectl embeds kustomize v5), the build step Flux's
kustomize-controller and Argo CD run over a folder."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION = "kustomization.yaml"


def build_committed_folders(repository: Path, branch: str = "main") -> dict[str, list[dict[str, Any]]]:
    """Folder → the resources kustomize builds from it, for every kustomization on `branch`; a folder that does
    not build fails the test with kustomize's message."""
    listing = _git(repository, "ls-tree", "-r", "--name-only", branch).splitlines()
    folders = sorted(str(Path(path).parent) for path in listing if Path(path).name == KUSTOMIZATION)
    assert folders, f"no {KUSTOMIZATION} on {branch} of {repository}"
    built: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="kpops-bot-kustomize-") as scratch:
        checkout = Path(scratch) / "checkout"
        subprocess.run(["git", "clone", "-q", "--branch", branch, str(repository), str(checkout)], check=True)
        for folder in folders:
            completed = subprocess.run(
                ["kubectl", "kustomize", str(checkout / folder)], capture_output=True, text=True, check=False
            )
            assert completed.returncode == 0, f"kustomize cannot build {folder}/: {completed.stderr}"
            built[folder] = [document for document in yaml.safe_load_all(completed.stdout) if document]
    return built


def _git(repository: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repository, capture_output=True, text=True, check=True).stdout
