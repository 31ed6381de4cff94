from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings, HelmChoice
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.workspace import Workspace
from tests.helpers import CHARTS, MIRROR_FROM, GitRepo


@pytest.fixture(scope="session")
def chart_server() -> Iterator[ChartServer]:
    with ChartServer(CHARTS) as server:
        yield server


@pytest.fixture(scope="session")
def engine_settings(chart_server: ChartServer) -> EngineSettings:
    return EngineSettings(
        helm=HelmChoice.BUILTIN,
        chart_mirrors={MIRROR_FROM: chart_server.url},
        render_timeout=120,
        pass_env=["KPOPS_BOT_TEST_REGISTRY"],
    )


@pytest.fixture(scope="session")
def pool(engine_settings: EngineSettings) -> Iterator[RenderPool]:
    with RenderPool(engine_settings) as render_pool:
        yield render_pool


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "workspace")


@pytest.fixture
def deployment_repo(tmp_path: Path) -> GitRepo:
    return GitRepo.from_fixture(tmp_path / "deployment-repo")
