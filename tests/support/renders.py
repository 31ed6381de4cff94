"""Recorded renders of the fixture repository and lookups into them: pipelines for the tests of pure cores."""

from __future__ import annotations

from typing import Any

from kpops_bot.model.render import ComponentRender, PipelineRender
from testbed.repos import FIXTURES

RENDERS = FIXTURES / "renders"


def recorded_render(name: str = "word-count", revision: str = "base") -> PipelineRender:
    """A pipeline as `kpops-bot render --format json` rendered it from fixtures/deployment-repo (manifest mode)."""
    render = PipelineRender.model_validate_json((RENDERS / f"{name}.json").read_text(encoding="utf-8"))
    return render.model_copy(update={"revision": revision})


def component(render: PipelineRender, name: str) -> ComponentRender:
    return next(c for c in render.components if c.name == name)


def manifest(render: PipelineRender, kind: str, name: str) -> dict[str, Any]:
    return next(
        m for c in render.components for m in c.manifests if m["kind"] == kind and m["metadata"]["name"] == name
    )
