from __future__ import annotations

from pathlib import Path

from kpops_bot.engine.model import Mode, Operation, RenderError
from kpops_bot.pipelines import RepoLayout
from kpops_bot.render_cache import RenderCache, RenderKey, cacheable
from tests.helpers import recorded_render

BLOBS = {
    "config.yaml": "c1",
    "pipelines/defaults.yaml": "d1",
    "pipelines/word-count/pipeline.yaml": "p1",
    "pipelines/team-a/defaults.yaml": "t1",
    "pipelines/team-a/orders/pipeline.yaml": "o1",
    "kpops/components/custom/__init__.py": "k1",
    "README.md": "r1",
}


def key(blobs: dict[str, str] = BLOBS, **changes: object) -> str:
    layout = RepoLayout(frozenset(blobs), pipeline_base_dir="pipelines")
    fields: dict[str, object] = {
        "environment": None,
        "mode": Mode.MANIFEST,
        "operation": Operation.DEPLOY,
        "config_dir": ".",
        "settings": {"env": {}, "chart_mirrors": {}},
    }
    fields.update(changes)
    return RenderKey(**fields).of(layout, blobs, layout.pipelines["word-count"])  # type: ignore[arg-type]


def test_key_changes_with_every_input_of_the_pipeline() -> None:
    reference = key()
    for path in ["config.yaml", "pipelines/defaults.yaml", "pipelines/word-count/pipeline.yaml"]:
        assert key(BLOBS | {path: "changed"}) != reference, path
    assert key(BLOBS | {"kpops/components/custom/__init__.py": "k2"}) != reference
    assert key(environment="prod") != reference
    assert key(mode=Mode.ARGO) != reference
    assert key(operation=Operation.RESET) != reference
    assert key(settings={"env": {"TOPIC_PREFIX": "x"}, "chart_mirrors": {}}) != reference
    assert key(settings={"env": {}, "chart_mirrors": {"repo": "http://mirror/"}}) != reference


def test_key_ignores_files_that_do_not_shape_the_pipeline() -> None:
    reference = key()
    assert key(BLOBS | {"README.md": "r2"}) == reference
    assert key(BLOBS | {"pipelines/team-a/defaults.yaml": "t2"}) == reference
    assert key(BLOBS | {"pipelines/team-a/orders/pipeline.yaml": "o2"}) == reference
    assert key(BLOBS | {"pipelines/word-count/pipeline_prod.yaml": "new"}) == reference
    assert key(BLOBS | {"pipelines/word-count/pipeline_prod.yaml": "new"}, environment="prod") != key(
        environment="prod"
    )


def test_stored_render_comes_back_with_the_revision_asked_for(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    render = recorded_render(revision="a" * 40)
    assert cache.get("k" * 64, "b" * 40) is None
    cache.put("k" * 64, render)
    again = cache.get("k" * 64, "b" * 40)
    assert again is not None
    assert again.revision == "b" * 40
    assert again.components == render.components
    assert (cache.hits, cache.stores) == (1, 1)


def test_unreadable_entries_are_misses(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    (tmp_path / "kk").mkdir()
    (tmp_path / "kk" / f"{'k' * 64}.json").write_text("{not json", encoding="utf-8")
    assert cache.get("k" * 64, "r") is None


def test_machine_failures_and_unpinned_charts_are_not_cached(tmp_path: Path) -> None:
    render = recorded_render()
    assert cacheable(render)
    assert cacheable(render.model_copy(update={"error": RenderError(message="bad yaml", kind="yaml")}))
    assert not cacheable(render.model_copy(update={"error": RenderError(message="timed out", kind="timeout")}))
    assert not cacheable(render.model_copy(update={"error": RenderError(message="crashed", kind="crash")}))
    unpinned = render.model_copy(deep=True)
    del unpinned.components[0].config["version"]
    assert not cacheable(unpinned)
    cache = RenderCache(tmp_path)
    cache.put("u" * 64, unpinned)
    assert cache.get("u" * 64, "r") is None
