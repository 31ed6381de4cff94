from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.model.kinds import HelmChoice
from kpops_bot.store import Store
from kpops_bot.workspace import Workspace
from testbed.kpops_versions import versioned_charts
from testbed.postgres import postgres_server, unavailable_reason
from testbed.repos import CHARTS, MIRROR_FROM, GitRepo


class Profile(enum.Enum):
    """The Hypothesis profiles (`--hypothesis-profile`): `full` draws every example a test asks for and is what runs
    unless asked otherwise (CI); `unit`, which `scripts/test unit` selects, draws a tenth of them (tests state their
    counts through tests/support/examples.py) so the developer's loop stays well under its 30 s."""

    FULL = "full"
    UNIT = "unit"


settings.register_profile(Profile.FULL.value)  # Hypothesis's defaults: 100 examples unless a test asks for more
settings.register_profile(Profile.UNIT.value, max_examples=10)


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
        public_variables=["KPOPS_BOT_TEST_REGISTRY"],
    )


@pytest.fixture(scope="session")
def versioned_chart_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartServer]:
    """fixtures/charts under every chart version the kpops releases under test ask for."""
    with ChartServer(versioned_charts(tmp_path_factory.mktemp("versioned-charts"))) as server:
        yield server


@pytest.fixture(scope="session")
def versioned_engine_settings(versioned_chart_server: ChartServer) -> EngineSettings:
    """Settings for rendering with the kpops releases under test (8.1.4 to 12) against those charts."""
    return EngineSettings(
        helm=HelmChoice.BUILTIN,
        chart_mirrors={MIRROR_FROM: versioned_chart_server.url},
        variables={"NAMESPACE": "kpops"},
        public_variables=["NAMESPACE"],
        render_timeout=120,
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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each supported database (PostgreSQL: a fresh database per test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bot.db'}"
    else:
        server: str = request.getfixturevalue("postgres_url")
        name = f"t{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = server.rsplit("/", 1)[0] + f"/{name}"
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on each supported database."""
    opened = Store(database_url)
    opened.migrate()
    yield opened
    opened.close()


class Need(enum.Enum):
    """What a test needs that costs seconds or a service: its markers (pyproject.toml registers and describes them),
    which the lanes of `scripts/test` select by (`unit`: none of them; `fast`: no docker, browser or bot_process)."""

    KPOPS = "kpops"
    DOCKER = "docker"
    BROWSER = "browser"
    POSTGRES = "postgres"
    BOT_PROCESS = "bot_process"
    CLIENT_TIMEOUT = "client_timeout"
    SUBPROCESS = "subprocess"


# Needs known from the fixtures a test uses (their closure: `pool` brings `engine_settings`, which brings
# `chart_server`). Tests whose fixtures do not tell carry the mark themselves (`pytest.mark.bot_process`).
_NEED_OF_FIXTURE = {
    "chart_server": Need.KPOPS,
    "versioned_chart_server": Need.KPOPS,
    "postgres_url": Need.POSTGRES,
    "docker_daemon": Need.DOCKER,
    "helm": Need.SUBPROCESS,  # the helm service of tests/security/test_helm_service.py and tests/sandbox/test_helm.py
    "refused_by_the_tool": Need.SUBPROCESS,  # check-jsonschema's verdicts (tests/unit/test_schemas.py)
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with what it needs, for the lanes of `scripts/test` (`unit`, `fast`) and `-m`."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        for need in needs_of(getattr(item, "fixturenames", ()), callspec.params if callspec else {}):
            item.add_marker(need.value)


def needs_of(fixtures: Iterable[str], params: Mapping[str, object]) -> set[Need]:
    """What a test with these fixtures (their closure) and parameters needs."""
    needs = {_NEED_OF_FIXTURE[fixture] for fixture in fixtures if fixture in _NEED_OF_FIXTURE}
    if params.get("database_url") == "postgresql":
        needs.add(Need.POSTGRES)  # `database_url` asks for the server only under this parameter
    return needs
