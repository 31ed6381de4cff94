"""The render cache under a size bound: it never holds more than the bound, and what goes is what was used least
recently."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kpops_bot.engine.cache import RenderCache
from kpops_bot.model.render import RenderReads
from tests.support.renders import recorded_render

BLOBS = {"config.yaml": "c1", "pipelines/word-count/pipeline.yaml": "p1"}


def _key(number: int) -> str:
    return hashlib.sha256(str(number).encode()).hexdigest()


def test_the_cache_stays_under_its_bound_and_keeps_what_is_used(tmp_path: Path) -> None:
    render = recorded_render(revision="a" * 40).model_copy(
        update={"reads": RenderReads(files=["config.yaml"], folders=["."], trees=[], unobserved=[])}
    )
    entry_size = len(render.model_dump_json()) + 1_000
    bound = 20 * entry_size
    cache = RenderCache(tmp_path / "cache", max_bytes=bound)
    cache.put(_key(0), render, BLOBS)
    for number in range(1, 200):
        cache.put(_key(number), render, BLOBS)
        assert cache.get(_key(0), "b" * 40, BLOBS) is not None  # used all along: never the least recent
        _age_everything_but(tmp_path / "cache", _key(0))
        assert cache.size() <= bound
    assert cache.get(_key(199), "b" * 40, BLOBS) is not None  # the newest is there
    assert cache.get(_key(1), "b" * 40, BLOBS) is None  # an old one unused since went
    assert cache.size() > bound // 2  # pruned to 80 % of the bound, not emptied


def test_without_a_bound_nothing_goes(tmp_path: Path) -> None:
    render = recorded_render(revision="a" * 40).model_copy(
        update={"reads": RenderReads(files=["config.yaml"], folders=["."], trees=[], unobserved=[])}
    )
    cache = RenderCache(tmp_path / "cache")
    for number in range(30):
        cache.put(_key(number), render, BLOBS)
    assert all(cache.get(_key(number), "b" * 40, BLOBS) is not None for number in range(30))


def _age_everything_but(folder: Path, kept: str) -> None:
    """Moves every file's last use one minute back, so order does not depend on the file system's clock grain."""
    for path in folder.glob("*/*.json"):
        if not path.name.startswith(kept):
            status = path.stat()
            os.utime(path, (status.st_atime - 60, status.st_mtime - 60))
