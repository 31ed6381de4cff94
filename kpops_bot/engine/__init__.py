"""Rendering: how a pipeline of a repository at a revision becomes its enriched config and manifests.

The public face, for the workflows and the command line:
- `RenderPool` runs renders in fresh kpops processes (`pool`, `zygote`, `child`); `LazyPool` starts one on the
  first render that is not cached (`lazy`);
- `render_targets` / `render_revision` render pipelines of commits through the pool and the `RenderCache`
  (`targets`, `cache`), `select_pipelines` / `layout_at` find them;
- `affected_side` says which pipelines a change between two commits affects, per environment (`affected`);
- `diff_revisions` is the dry run of a change: affected pipelines rendered at both sides and diffed (`dryrun`).

Names are loaded on first use: the fork server imports `kpops_bot.engine.child` and must not pay for git, the
diff or the pool when it starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpops_bot.engine.affected import AffectedSide, affected_side
    from kpops_bot.engine.cache import RenderCache
    from kpops_bot.engine.dryrun import DiffRequest, diff_revisions
    from kpops_bot.engine.lazy import LazyPool
    from kpops_bot.engine.model import Mode, Operation, PipelineRender, RenderError, RenderSpec
    from kpops_bot.engine.pool import RenderPool, RenderRequest
    from kpops_bot.engine.settings import EngineSettings
    from kpops_bot.engine.targets import (
        Progress,
        RenderTarget,
        UnknownPipelineError,
        layout_at,
        render_revision,
        render_targets,
        select_pipelines,
    )

_HOMES = {
    "AffectedSide": "affected",
    "affected_side": "affected",
    "RenderCache": "cache",
    "DiffRequest": "dryrun",
    "diff_revisions": "dryrun",
    "LazyPool": "lazy",
    "Mode": "model",
    "Operation": "model",
    "PipelineRender": "model",
    "RenderError": "model",
    "RenderSpec": "model",
    "RenderPool": "pool",
    "RenderRequest": "pool",
    "EngineSettings": "settings",
    "Progress": "targets",
    "RenderTarget": "targets",
    "UnknownPipelineError": "targets",
    "layout_at": "targets",
    "render_revision": "targets",
    "render_targets": "targets",
    "select_pipelines": "targets",
}

__all__ = [
    "AffectedSide",
    "DiffRequest",
    "EngineSettings",
    "LazyPool",
    "Mode",
    "Operation",
    "PipelineRender",
    "Progress",
    "RenderCache",
    "RenderError",
    "RenderPool",
    "RenderRequest",
    "RenderSpec",
    "RenderTarget",
    "UnknownPipelineError",
    "affected_side",
    "diff_revisions",
    "layout_at",
    "render_revision",
    "render_targets",
    "select_pipelines",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
