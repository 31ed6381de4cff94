"""Each kpops major renders as its own CLI prints: kpops-examples' word-count under 8.1.4, 9, 10, 11 and 12."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpops_bot.engine.dialect import Dialect
from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.model.render import ErrorKind, Mode, Operation
from kpops_bot.versions.environments import EnvironmentStore
from kpops_bot.versions.index import DEFAULT_INDEX_URL, resolve
from kpops_bot.versions.pin import find_pin
from testbed.kpops_versions import (
    KPOPS_EXAMPLES,
    RELEASES,
    environment,
    environments_folder,
    helm_shim,
    kpops_cli,
    word_count_checkout,
)

pytestmark = pytest.mark.kpops  # real kpops releases render


@pytest.fixture(scope="module")
def store() -> EnvironmentStore:
    return EnvironmentStore(environments_folder())


def _request(checkout: Path, mode: Mode = Mode.MANIFEST, operation: Operation = Operation.DEPLOY) -> RenderRequest:
    return RenderRequest("word-count", "word-count/pipeline.yaml", checkout, "HEAD", mode=mode, operation=operation)


def test_kpops_examples_pin_resolves_to_8_1_4() -> None:
    files = [str(path.relative_to(KPOPS_EXAMPLES)) for path in KPOPS_EXAMPLES.rglob("*") if path.is_file()]
    pin = find_pin(files, lambda name: (KPOPS_EXAMPLES / name).read_text())
    assert str(resolve(pin, index_url=DEFAULT_INDEX_URL, offline=False, built=[]).version) == "8.1.4"


@pytest.mark.parametrize("release", RELEASES)
def test_word_count_renders_as_the_releases_own_cli(
    release: str,
    store: EnvironmentStore,
    versioned_engine_settings: EngineSettings,
    versioned_chart_server: ChartServer,
    tmp_path: Path,
) -> None:
    env = environment(store, release)
    checkout = word_count_checkout(tmp_path / "checkout", release)
    with RenderPool(versioned_engine_settings, checkouts=[tmp_path], kpops=env) as pool:
        result = pool.render(_request(checkout))
    assert result.ok, result.error
    assert result.kpops_version == release
    engine = [manifest for component in result.components for manifest in component.manifests]
    args = ["manifest"] if not Dialect.of(release).has_operation_modes else ["deploy", "--operation-mode", "manifest"]
    cli = kpops_cli(release, env, checkout, helm_shim(tmp_path / "bin"), versioned_chart_server, *args)
    assert engine == cli
    kinds = {manifest["kind"] for manifest in engine}
    assert {"Deployment", "Job"} <= kinds  # word-count-app and data-producer really rendered
    assert ("KafkaTopic" in kinds) == Dialect.of(release).has_operation_modes
    generated = kpops_cli(release, env, checkout, helm_shim(tmp_path / "bin"), versioned_chart_server, "generate")
    flat = [doc for entry in generated for doc in (entry if isinstance(entry, list) else [entry])]
    assert [component.config for component in result.components] == flat


def test_kpops_8_cannot_render_argo_or_other_operations(
    store: EnvironmentStore, versioned_engine_settings: EngineSettings, tmp_path: Path
) -> None:
    env = environment(store, "8.1.4")
    checkout = word_count_checkout(tmp_path / "checkout", "8.1.4")
    with RenderPool(versioned_engine_settings, checkouts=[tmp_path], kpops=env) as pool:
        argo = pool.render(_request(checkout, mode=Mode.ARGO))
        reset = pool.render(_request(checkout, operation=Operation.RESET))
    assert argo.error is not None and reset.error is not None
    assert argo.error.kind is ErrorKind.UNSUPPORTED
    assert argo.error.message == (
        "word-count/pipeline.yaml: kpops 8.1.4 has no argo mode (operation modes came with kpops 9); "
        "render in manifest mode"
    )
    assert reset.error.message == (
        "word-count/pipeline.yaml: kpops 8.1.4 renders the manifests of deploy only (its `kpops manifest`); "
        "reset manifests came with kpops 9"
    )


def test_kpops_12_fails_on_kpops_8_config_as_the_upgrade_would(
    versioned_engine_settings: EngineSettings, tmp_path: Path
) -> None:
    checkout = word_count_checkout(tmp_path / "checkout", "8.1.4")  # no strimzi_topic.label: a kpops 8 config
    with RenderPool(versioned_engine_settings, checkouts=[tmp_path]) as pool:
        result = pool.render(_request(checkout))
    assert result.error is not None
    assert "strimzi_topic.label" in result.error.message
