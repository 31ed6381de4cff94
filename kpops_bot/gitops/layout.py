"""Where rendered manifests go and what the files say. Pure: renders in, file contents out.

`<root>/<environment>/<pipeline>/<kind>-<name>.yaml` per resource and a `kustomization.yaml` listing them, so an
Argo CD application or a Flux Kustomization can point at an environment's folder (or one pipeline's). One-off
jobs a command adds (reset, clean) go to `jobs/` inside the pipeline's folder under names of their own, so a
second reset runs again; deploys keep them, a destroy removes the whole folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kpops_bot.engine.model import PipelineRender
from kpops_bot.yaml_text import dump_yaml

KUSTOMIZATION = "kustomization.yaml"
JOBS = "jobs"
SOURCE_ANNOTATION = "kpops-bot/source-commit"
DEFAULT_ENVIRONMENT = "default"
_NAME_LIMIT = 63  # a Kubernetes name that also labels pods
_HOOK_ANNOTATIONS = ("argocd.argoproj.io/hook", "argocd.argoproj.io/hook-delete-policy", "helm.sh/hook")


@dataclass(frozen=True)
class PipelineWrite:
    """What one pipeline's folder becomes: its resources (None: the folder is removed) and the jobs it gains."""

    folder: str
    source: str  # the commit the manifests were rendered from
    resources: Mapping[str, str] | None = None  # file name → YAML, replacing the folder's resources
    jobs: Mapping[str, str] = field(default_factory=dict)  # file name in jobs/ → YAML, added

    @property
    def removes(self) -> bool:
        return self.resources is None and not self.jobs


def pipeline_folder(root: str, environment: str | None, pipeline: str) -> str:
    """`<root>/<environment>/<pipeline>`; a root of `.` is the repository's top."""
    root = "" if root.strip("/") == "." else root.strip("/")
    return "/".join(part for part in (root, environment or DEFAULT_ENVIRONMENT, pipeline) if part)


def resource_files(manifests: Iterable[dict[str, Any]]) -> dict[str, str]:
    """`<kind>-<name>.yaml` → the manifest as YAML; same kind and name twice get a number."""
    files: dict[str, str] = {}
    for manifest in manifests:
        stem = f"{str(manifest.get('kind', 'resource')).lower()}-{_metadata(manifest).get('name', 'unnamed')}"
        stem = re.sub(r"[^a-z0-9.-]+", "-", stem.lower()).strip("-")
        name, counter = f"{stem}.yaml", 2
        while name in files:
            name, counter = f"{stem}-{counter}.yaml", counter + 1
        files[name] = dump(manifest)
    return files


def deploy_write(folder: str, render: PipelineRender, steps: Iterable[str] = ()) -> PipelineWrite:
    """The folder of a rendered deploy (only `steps`' components, when given)."""
    return PipelineWrite(folder, render.revision, resources=resource_files(_manifests(render, steps)))


def one_off_jobs_write(folder: str, render: PipelineRender, run_id: str, steps: Iterable[str] = ()) -> PipelineWrite:
    """A reset's or clean's Jobs under names no run used before; other resources are the deploy's business.

    Argo CD hook annotations are dropped: committed as plain resources, the Jobs run on the next sync instead of
    waiting for the application's deletion.
    """
    jobs = [_renamed_job(manifest, run_id) for manifest in _manifests(render, steps) if manifest.get("kind") == "Job"]
    return PipelineWrite(folder, render.revision, jobs=resource_files(jobs))


def removal(folder: str, source: str) -> PipelineWrite:
    return PipelineWrite(folder, source)


def kustomization(resources: Iterable[str], source: str) -> str:
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "metadata": {"name": "kpops-pipeline", "annotations": {SOURCE_ANNOTATION: source}},
        "resources": sorted(resources),
    }
    return "# Written by kpops-bot; edits are replaced on the next apply.\n" + dump(document)


def recorded_source(kustomization_text: str | None) -> str | None:
    """The commit a folder was last rendered from, as its kustomization records it."""
    if not kustomization_text:
        return None
    try:
        document = yaml.safe_load(kustomization_text)
    except yaml.YAMLError:
        return None
    source = _metadata(document).get("annotations", {}).get(SOURCE_ANNOTATION) if isinstance(document, dict) else None
    return source if isinstance(source, str) else None


def dump(document: Any) -> str:
    return dump_yaml(document)


def _manifests(render: PipelineRender, steps: Iterable[str]) -> list[dict[str, Any]]:
    wanted = set(steps)
    return [
        manifest
        for component in render.components
        if not wanted or component.name in wanted
        for manifest in component.manifests
    ]


def _metadata(document: Any) -> dict[str, Any]:
    metadata = document.get("metadata") if isinstance(document, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _renamed_job(manifest: dict[str, Any], run_id: str) -> dict[str, Any]:
    metadata = dict(_metadata(manifest))
    suffix = f"-{run_id}"
    metadata["name"] = str(metadata.get("name", "job"))[: _NAME_LIMIT - len(suffix)].rstrip("-") + suffix
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in _HOOK_ANNOTATIONS}
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return {**manifest, "metadata": metadata}
