"""Rendered pipelines stored under a key made of everything that can change them.

The key covers the content (git blob ids) of every file kpops reads for the pipeline, custom component code, the
kpops and kpops-bot versions, environment, mode, operation, the variables kpops may see and the chart mirrors. A new
push to a pull request therefore re-renders only the pipelines its commits affect, and a base is rendered once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from pydantic import ValidationError

from kpops_bot.engine.model import PipelineRender, RenderSpec
from kpops_bot.pipelines import Pipeline, RepoLayout

# Failures that depend on the machine, not on the inputs, are rendered again next time.
_TRANSIENT_ERRORS = frozenset({"timeout", "crash"})


@functools.cache
def _versions() -> dict[str, str]:
    return {"kpops": metadata.version("kpops"), "kpops-bot": metadata.version("kpops-bot")}


def cache_key(
    layout: RepoLayout, blobs: dict[str, str], pipeline: Pipeline, spec: RenderSpec, settings: dict[str, object]
) -> str:
    """The key of a render: `blobs` are the commit's git blob ids, `settings` the engine's render fingerprint."""
    files = [*layout.input_files(pipeline, spec.environment), *layout.custom_component_files()]
    document = {
        **_versions(),
        "pipeline": pipeline.name,
        "pipeline_file": pipeline.pipeline_file,
        "environment": spec.environment,
        "mode": spec.mode.value,
        "operation": spec.operation.value,
        "config_dir": spec.config_dir,
        "settings": settings,
        "files": {path: blobs.get(path) for path in sorted(set(files))},
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


class RenderCache:
    """One JSON file per key in a folder; safe for concurrent readers and writers (atomic replace)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self.hits = 0
        self.stores = 0

    def _path(self, key: str) -> Path:
        return self._folder / key[:2] / f"{key}.json"

    def get(self, key: str, revision: str) -> PipelineRender | None:
        """The stored render, stamped with the revision now asked for; None when absent or unreadable."""
        try:
            stored = PipelineRender.model_validate_json(self._path(key).read_bytes())
        except (OSError, ValidationError):
            return None
        self.hits += 1
        return stored.model_copy(update={"revision": revision})

    def put(self, key: str, render: PipelineRender) -> None:
        if not cacheable(render):
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(render.model_dump_json())
        Path(temporary).replace(path)
        self.stores += 1


def cacheable(render: PipelineRender) -> bool:
    """Renders that the same inputs would reproduce: no machine failures, no chart left to pick its newest version."""
    if render.error is not None:
        return render.error.kind not in _TRANSIENT_ERRORS
    return all(
        component.config.get("version") or "helm_release_name" not in component.config
        for component in render.components
    )
