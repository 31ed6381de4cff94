"""Environments per kpops release: resolved with the real package index, built with uv, once, pruned."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from prometheus_client.parser import text_string_to_metric_families

from kpops_bot.engine.lazy import FAILED_BUILD_REMEMBERED, LazyPool
from kpops_bot.engine.pool import RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.metrics import exposition
from kpops_bot.model.render import PipelineRender
from kpops_bot.versions.environments import MARKER, EnvironmentStore
from kpops_bot.versions.index import DEFAULT_INDEX_URL, UnresolvablePinError, bot_kpops_version, resolve
from kpops_bot.versions.pin import DEFAULT_PIN, Pin, PinSource
from kpops_bot.versions.releases import KpopsReleases

KPOPS_8 = Pin(SpecifierSet("~=8.1.4"), PinSource.REQUIREMENTS, "requirements.txt")


def test_a_pin_resolves_against_the_package_index() -> None:
    resolved = resolve(KPOPS_8, index_url=DEFAULT_INDEX_URL, offline=False, built=[])
    assert (resolved.version, resolved.own) == (Version("8.1.4"), False)
    assert resolved.requires_python == SpecifierSet(">=3.10,<3.13")


def test_no_pin_is_the_bots_own_kpops_without_asking_the_index() -> None:
    resolved = resolve(DEFAULT_PIN, index_url="http://127.0.0.1:9/simple", offline=False, built=[])
    assert (resolved.version, resolved.own) == (Version(bot_kpops_version()), True)


def test_offline_only_built_environments_are_candidates(tmp_path: Path) -> None:
    with pytest.raises(UnresolvablePinError, match=r"kpops~=8.1.4 \(requirements.txt\) among the environments"):
        resolve(KPOPS_8, index_url=DEFAULT_INDEX_URL, offline=True, built=[])


def test_an_unreachable_index_is_a_clear_error() -> None:
    with pytest.raises(UnresolvablePinError, match=r"the package index http://127.0.0.1:9/simple could not list"):
        resolve(KPOPS_8, index_url="http://127.0.0.1:9/simple", offline=False, built=[])


@pytest.mark.kpops  # builds an environment from the package index
def test_two_jobs_wanting_a_new_version_build_it_once(tmp_path: Path) -> None:
    store = EnvironmentStore(tmp_path / "envs")
    heard: list[Version] = []
    results = []

    def job() -> None:
        results.append(store.get(Version("8.1.4"), SpecifierSet(">=3.10,<3.13"), heard.append))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.builds == 1
    assert heard == [Version("8.1.4"), Version("8.1.4")]
    assert results[0] == results[1]
    assert results[0].python.is_file()
    assert [release.version for release in store.built()] == [Version("8.1.4")]
    offline = resolve(KPOPS_8, index_url=DEFAULT_INDEX_URL, offline=True, built=store.built())
    assert offline.version == Version("8.1.4")
    # Another store on the same folder (another process) finds it built, and prunes it once unused.
    other = EnvironmentStore(tmp_path / "envs")
    other.get(Version("8.1.4"), SpecifierSet())
    assert other.builds == 0
    assert other.prune(unused_for=3600) == []
    assert other.prune(unused_for=3600, now=time.time() + 7200) == [Version("8.1.4")]
    assert not (tmp_path / "envs" / "kpops-8.1.4" / MARKER).exists()


@pytest.mark.kpops
def test_an_unfinished_build_is_built_again(tmp_path: Path) -> None:
    root = tmp_path / "envs" / "kpops-8.1.4"
    root.mkdir(parents=True)
    (root / "half-written").write_text("")
    store = EnvironmentStore(tmp_path / "envs")
    environment = store.get(Version("8.1.4"), SpecifierSet(">=3.10,<3.13"))
    assert store.builds == 1
    assert not (root / "half-written").exists()
    assert environment.python.is_file()


@pytest.mark.subprocess  # builds an environment: pip in a process
def test_a_failed_build_is_not_tried_again_by_every_pipeline_of_a_run(tmp_path: Path) -> None:
    (tmp_path / "empty-index").mkdir()
    store = EnvironmentStore(tmp_path / "environments", index_url=(tmp_path / "empty-index").as_uri())
    now = [1000.0]
    pool = LazyPool(EngineSettings(), releases=KpopsReleases(store), clock=lambda: now[0])
    release = pool.kpops_release(["requirements.txt"], {"requirements.txt": "kpops==9.4.1\n"}.get)

    def render(name: str) -> PipelineRender:
        request = RenderRequest(name, f"{name}/pipeline.yaml", tmp_path, "HEAD", kpops_version=release)
        return pool.submit(request).result()

    def failed_builds() -> float:
        return sum(
            sample.value
            for metric in text_string_to_metric_families(exposition().decode())
            for sample in metric.samples
            if sample.name == "kpops_bot_kpops_environment_builds_total" and sample.labels["outcome"] == "failed"
        )

    before = failed_builds()
    first, second = render("orders"), render("payments")
    assert failed_builds() - before == 1
    assert first.error is not None and second.error is not None
    assert second.error.message == first.error.message and "kpops was not found" in first.error.message
    now[0] += FAILED_BUILD_REMEMBERED + 1
    assert render("orders").error is not None
    assert failed_builds() - before == 2
