"""Where rendered manifests go and what the files say. Pure: renders in, file contents out.

`<root>/<environment>/<pipeline>/<kind>-<name>.yaml` per resource and a `kustomization.yaml` listing them, so an
Argo CD application or a Flux Kustomization can point at an environment's folder (or one pipeline's). One-off
jobs a command adds (reset, clean) go to `jobs/` inside the pipeline's folder under names of their own, so a
second reset runs again; deploys keep them, a destroy removes the whole folder.

A one-off Job must run once although it stays in a folder a controller keeps converging. The same file serves
Argo CD (auto-sync, self-heal, prune) and Flux (prune, drift correction), so the bot needs not know which one watches:

- No `spec.ttlSecondsAfterFinished`. Kubernetes deletes a finished Job after its TTL while the Job is still in Git,
  so Argo CD's self-heal ("automatic sync when the live cluster's state deviates from the state defined in Git",
  user guide, *Automated Sync Policy*) and Flux's interval apply ("to detect and correct drift inside the cluster",
  kustomize-controller's *Kustomization* spec) create it again: the reset runs again. Kept, the finished Job is live
  and in sync, and neither controller has anything to create.
- `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`: Flux is "to only apply the Kubernetes resources if they are not
  present on the cluster" and skips them afterwards. A later difference of the committed Job from the live one
  cannot fail on the Job's immutable pod template, nor be force-replaced (`spec.force` and
  `kustomize.toolkit.fluxcd.io/force` recreate a resource whose immutable fields changed, which reruns a Job).
  A skipped object stays in Flux's inventory, so pruning deletes it once its file leaves. Argo CD ignores it.
- No Argo CD hook annotations: "during a Sync operation, Argo CD will apply the resource" of each hook again, and
  `BeforeHookCreation`, the default delete policy, deletes the previous one first (user guide, *Sync Phases and
  Waves*): a hook left in the folder reruns the reset whenever anything else in the application syncs. Nor
  `kustomize.toolkit.fluxcd.io/reconcile: disabled`: Flux skips such a resource even when it is absent, so the Job
  would never be created.
- Old Jobs leave the folder (`expired_jobs`): the bot's next commit to the pipeline's folder after the retention
  removes their files. Prune then deletes a Job that finished long ago; neither controller creates anything for a
  resource that left Git, so nothing runs again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import yaml

from kpops_bot.bounded_yaml import load_bounded
from kpops_bot.model.flux import FLUX_APPLY_POLICY, FLUX_CREATE_ONCE
from kpops_bot.model.render import PipelineRender
from kpops_bot.yaml_text import dump_yaml

KUSTOMIZATION = "kustomization.yaml"
JOBS = "jobs"
SOURCE_ANNOTATION = "kpops-bot/source-commit"
DEFAULT_ENVIRONMENT = "default"
_NAME_LIMIT = 63  # a Kubernetes name that also labels pods
_HOOK_ANNOTATIONS = ("argocd.argoproj.io/hook", "argocd.argoproj.io/hook-delete-policy", "helm.sh/hook")
JOBS_KEPT_FOR = timedelta(days=7)  # long past any reset's run, so a removed file never stops a running Job


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


def one_off_jobs_write(
    folder: str,
    render: PipelineRender,
    run_id: str,
    steps: Iterable[str] = (),
    extra: Iterable[dict[str, Any]] = (),
) -> PipelineWrite:
    """A reset's or clean's Jobs under names no run used before, made to run once (see the module's docstring);
    other resources are the deploy's business. `extra`: one-off resources of the bot's own, already named for the
    run and made to run once (a connector's offsets reset, `connectors.py`)."""
    jobs = [_one_off_job(manifest, run_id) for manifest in _manifests(render, steps) if manifest.get("kind") == "Job"]
    return PipelineWrite(folder, render.revision, jobs=resource_files([*jobs, *extra]))


def expired_jobs(
    added: Mapping[str, datetime], now: datetime, kept_for: timedelta, written: Collection[str] = ()
) -> list[str]:
    """The one-off Job files (of `added`: file → when it was committed) whose retention is over, except those
    written now. A file of unknown age is kept: removing a Job that may still run would stop it."""
    return sorted(name for name, when in added.items() if name not in written and now - when >= kept_for)


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
        document = load_bounded(kustomization_text, "kustomization.yaml")
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


def _one_off_job(manifest: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The Job named for its run, without hooks and TTL, created once by Flux."""
    metadata = dict(_metadata(manifest))
    suffix = f"-{run_id}"
    metadata["name"] = str(metadata.get("name", "job"))[: _NAME_LIMIT - len(suffix)].rstrip("-") + suffix
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in _HOOK_ANNOTATIONS}
    metadata["annotations"] = {**annotations, FLUX_APPLY_POLICY: FLUX_CREATE_ONCE}
    job = {**manifest, "metadata": metadata}
    spec = manifest.get("spec")
    if isinstance(spec, dict):
        job["spec"] = {key: value for key, value in spec.items() if key != "ttlSecondsAfterFinished"}
    return job
