"""The test lanes of `scripts/test`: a test is marked with what its fixtures bring, every such need is registered,
and the unit lane leaves out every one of them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.conftest import Need, needs_of

ROOT = Path(__file__).resolve().parent.parent


def test_a_test_needs_what_its_fixtures_bring() -> None:
    assert needs_of(["pool", "engine_settings", "chart_server", "tmp_path"], {}) == {Need.KPOPS}
    assert needs_of(["versioned_engine_settings", "versioned_chart_server"], {}) == {Need.KPOPS}
    assert needs_of(["image", "docker_daemon", "chart_server"], {}) == {Need.DOCKER, Need.KPOPS}
    assert needs_of(["deployment_repo", "workspace", "tmp_path"], {}) == set()


def test_the_postgresql_side_of_a_store_test_needs_postgres_and_its_sqlite_side_nothing() -> None:
    fixtures = ["store", "database_url", "tmp_path", "request"]
    assert needs_of(fixtures, {"database_url": "postgresql"}) == {Need.POSTGRES}
    assert needs_of(fixtures, {"database_url": "sqlite"}) == set()


def test_every_need_is_a_registered_marker_and_the_unit_lane_leaves_out_every_one() -> None:
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {marker.split(":", 1)[0] for marker in pytest_options["markers"]}
    assert registered == {need.value for need in Need}
    assert "--strict-markers" in pytest_options["addopts"]  # a mark nobody registered is an error, not a new lane
    script = (ROOT / "scripts" / "test").read_text()
    (unit,) = re.findall(r'^\s*unit\) lane=\(-m "not \((.*)\)"\)', script, re.MULTILINE)
    assert set(unit.split(" or ")) == registered
