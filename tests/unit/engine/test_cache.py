from __future__ import annotations

import resource
import signal
from pathlib import Path

import pytest

from kpops_bot.engine import cache as cache_module
from kpops_bot.engine.cache import RenderCache, cache_key, cacheable
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.model.render import Mode, Operation, PipelineRender, RenderError, RenderReads, RenderSpec
from kpops_bot.pipelines import RepoLayout
from tests.support.renders import recorded_render

BLOBS = {
    "config.yaml": "c1",
    "pipelines/defaults.yaml": "d1",
    "pipelines/word-count/pipeline.yaml": "p1",
    "pipelines/team-a/defaults.yaml": "t1",
    "pipelines/team-a/orders/pipeline.yaml": "o1",
    "kpops/components/custom/__init__.py": "k1",
    "README.md": "r1",
}


def read(
    render: PipelineRender, *files: str, trees: tuple[str, ...] = (), unobserved: tuple[str, ...] = ()
) -> PipelineRender:
    """`render` as a render process reports it: with what it read in its checkout."""
    reads = RenderReads(files=["config.yaml", *files], folders=["."], trees=list(trees), unobserved=list(unobserved))
    return render.model_copy(update={"reads": reads})


def key(
    blobs: dict[str, str] = BLOBS,
    spec: RenderSpec = RenderSpec(),  # noqa: B008 - frozen
    settings: dict[str, object] | None = None,
) -> str:
    layout = RepoLayout(frozenset(blobs), pipeline_base_dir="pipelines")
    fingerprint = settings if settings is not None else {"env": {}, "chart_mirrors": {}}
    return cache_key(layout, blobs, layout.pipelines["word-count"], spec, fingerprint)


def test_key_changes_with_every_input_of_the_pipeline() -> None:
    reference = key()
    for path in ["config.yaml", "pipelines/defaults.yaml", "pipelines/word-count/pipeline.yaml"]:
        assert key(BLOBS | {path: "changed"}) != reference, path
    assert key(BLOBS | {"kpops/components/custom/__init__.py": "k2"}) != reference
    assert key(spec=RenderSpec(environment="prod")) != reference
    assert key(spec=RenderSpec(mode=Mode.ARGO)) != reference
    assert key(spec=RenderSpec(operation=Operation.RESET)) != reference
    assert key(spec=RenderSpec(config_dir="deploy")) != reference
    assert key(settings={"env": {"TOPIC_PREFIX": "x"}, "chart_mirrors": {}}) != reference
    assert key(settings={"env": {}, "chart_mirrors": {"repo": "http://mirror/"}}) != reference


def test_key_ignores_files_that_do_not_shape_the_pipeline() -> None:
    reference = key()
    assert key(BLOBS | {"README.md": "r2"}) == reference
    assert key(BLOBS | {"pipelines/team-a/defaults.yaml": "t2"}) == reference
    assert key(BLOBS | {"pipelines/team-a/orders/pipeline.yaml": "o2"}) == reference
    assert key(BLOBS | {"pipelines/word-count/pipeline_prod.yaml": "new"}) == reference
    prod = RenderSpec(environment="prod")
    assert key(BLOBS | {"pipelines/word-count/pipeline_prod.yaml": "new"}, spec=prod) != key(spec=prod)


def test_fingerprint_covers_what_kpops_sees_but_not_the_path() -> None:
    base = EngineSettings(variables={"TOPIC_PREFIX": "a"})
    assert base.render_fingerprint() != EngineSettings(variables={"TOPIC_PREFIX": "b"}).render_fingerprint()
    mirrored = EngineSettings(variables={"TOPIC_PREFIX": "a"}, chart_mirrors={"repo": "http://m/"})
    assert base.render_fingerprint() != mirrored.render_fingerprint()
    assert "PATH" not in base.render_fingerprint()["env"]  # type: ignore[operator]


def test_stored_render_comes_back_with_the_revision_asked_for(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    render = read(recorded_render(revision="a" * 40))
    assert cache.get("k" * 64, "b" * 40, BLOBS) is None
    cache.put("k" * 64, render, BLOBS)
    again = cache.get("k" * 64, "b" * 40, BLOBS)
    assert again is not None
    assert again.revision == "b" * 40
    assert again.components == render.components
    assert (cache.hits, cache.stores) == (1, 1)


def test_unreadable_entries_are_misses(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    (tmp_path / "kk").mkdir()
    (tmp_path / "kk" / f"{'k' * 64}.reads.json").write_text("{not json", encoding="utf-8")
    assert cache.get("k" * 64, "r", BLOBS) is None


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
    cache.put("u" * 64, read(unpinned), BLOBS)
    assert cache.get("u" * 64, "r", BLOBS) is None


def test_an_entry_is_served_only_while_what_its_render_read_is_unchanged(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    chart = {"charts/app/Chart.yaml": "c1", "charts/app/templates/deployment.yaml": "t1"}
    base, head = BLOBS | chart, BLOBS | chart | {"charts/app/templates/deployment.yaml": "t2"}
    cache.put("k" * 64, read(recorded_render(revision="base"), trees=("charts/app",)), base)
    assert cache.get("k" * 64, "head", head) is None, "the chart changed"
    assert cache.get("k" * 64, "other", BLOBS | chart | {"README.md": "r2"}) is not None
    cache.put("k" * 64, read(recorded_render(revision="head"), trees=("charts/app",)), head)
    assert cache.get("k" * 64, "base", base) is not None, "base and head variants live side by side"
    assert cache.get("k" * 64, "head", head) is not None
    assert cache.get("k" * 64, "new file", base | {"charts/app/templates/job.yaml": "j1"}) is None
    assert cache.get("k" * 64, "listing", base | {"NEW.md": "n1"}) is None, "the root folder was listed"


def test_renders_whose_reads_are_unknown_are_not_cached(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    unreported = recorded_render()
    escaped = read(recorded_render(), unobserved=("started a process (cat)",))
    assert not cacheable(escaped)
    for render in (unreported, escaped):
        cache.put("k" * 64, render, BLOBS)
        assert cache.get("k" * 64, "r", BLOBS) is None
    assert cache.stores == 0


def test_files_not_written_by_the_cache_are_never_served(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    cache.put("k" * 64, read(recorded_render()), BLOBS)
    entries = [path for path in (tmp_path / "kk").iterdir() if not path.name.endswith(".reads.json")]
    (entry,) = entries
    mac, _, body = entry.read_bytes().partition(b"\n")
    forged = body.replace(b'"replicas":2', b'"replicas":9')
    assert forged != body
    entry.write_bytes(mac + b"\n" + forged)
    assert cache.get("k" * 64, "r", BLOBS) is None, "a changed entry keeps no valid signature"
    entry.write_bytes(body)
    assert cache.get("k" * 64, "r", BLOBS) is None, "an unsigned entry"
    assert oct((tmp_path / ".hmac-key").stat().st_mode & 0o777) == "0o600"


def test_oversized_renders_are_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "MAX_ENTRY_BYTES", 1000)
    cache = RenderCache(tmp_path)
    cache.put("k" * 64, read(recorded_render()), BLOBS)
    assert cache.get("k" * 64, "r", BLOBS) is None


class CountingFacts:
    """Facts of a render (its manifests' count): how often they were made shows whether the cache reused them."""

    def __init__(self, name: str = "manifests/1") -> None:
        self.name = name
        self.made = 0

    def __call__(self, render: PipelineRender) -> int:
        self.made += 1
        return sum(len(component.manifests) for component in render.components)


def test_facts_are_made_when_a_render_is_stored_and_come_back_with_it(tmp_path: Path) -> None:
    facts = CountingFacts()
    render = read(recorded_render())
    cache = RenderCache(tmp_path)
    cache.put("k" * 64, render, BLOBS, facts)
    expected = sum(len(component.manifests) for component in render.components)
    assert (facts.made, render.fact(facts.name)) == (1, expected), "the stored render carries them at once"
    for _ in range(2):
        again = RenderCache(tmp_path).get("k" * 64, "r", BLOBS, facts)
        assert again is not None
        assert again.fact(facts.name) == expected
    assert facts.made == 1, "a cached render's facts are read, not made again"
    assert RenderCache(tmp_path).get("k" * 64, "r", BLOBS).fact(facts.name) is None  # type: ignore[union-attr]


def test_an_entry_without_the_facts_asked_for_gets_them_made_and_stored(tmp_path: Path) -> None:
    """An entry written before facts existed (or with facts of another name: another schema release) is used, its
    facts made on first use and written into it."""
    cache = RenderCache(tmp_path)
    cache.put("k" * 64, read(recorded_render()), BLOBS)  # as an older bot stored it: no facts
    older = CountingFacts("manifests/0")
    cache.put("k" * 64, read(recorded_render()), BLOBS, older)
    facts = CountingFacts("manifests/1")
    first = cache.get("k" * 64, "r", BLOBS, facts)
    second = RenderCache(tmp_path).get("k" * 64, "r", BLOBS, facts)
    assert first is not None and second is not None
    assert first.fact(facts.name) == second.fact(facts.name) is not None
    assert facts.made == 1
    assert second.fact(older.name) is None, "only the facts asked for are put on the render"
    assert RenderCache(tmp_path).get("k" * 64, "r", BLOBS, older).fact(older.name) is not None  # type: ignore[union-attr]
    assert older.made == 1, "facts of another name stay in the entry"


def test_a_cache_that_cannot_take_the_facts_still_answers_and_keeps_its_entry(tmp_path: Path) -> None:
    """Writing facts into an older entry is only a saving for the next run: a full disk (here a file size limit,
    which binds root as well) neither fails the lookup nor leaves a half-written file."""
    cache = RenderCache(tmp_path)
    cache.put("k" * 64, read(recorded_render()), BLOBS)  # no facts
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    facts = CountingFacts()
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, limits[1]))
    try:
        found = cache.get("k" * 64, "r", BLOBS, facts)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
    assert found is not None and found.fact(facts.name) is not None, "the facts are made for this run all the same"
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before
    assert facts.made == 1


def test_facts_that_cannot_be_made_leave_the_render_without_them(tmp_path: Path) -> None:
    class Failing(CountingFacts):
        def __call__(self, render: PipelineRender) -> int:
            raise ValueError("schema missing")

    cache = RenderCache(tmp_path)
    cache.put("k" * 64, read(recorded_render()), BLOBS, Failing())
    again = cache.get("k" * 64, "r", BLOBS, Failing())
    assert again is not None
    assert again.fact("manifests/1") is None


def test_a_render_process_cannot_hand_in_facts() -> None:
    """Facts are made in the bot's process only: a render's answer that names some carries none."""
    answer = recorded_render().model_dump(mode="json") | {"_facts": {"manifests/1": 0}, "facts": {"manifests/1": 0}}
    parsed = PipelineRender.model_validate(answer)
    assert parsed.fact("manifests/1") is None
