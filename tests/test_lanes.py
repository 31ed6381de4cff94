"""The test lanes of `scripts/test`: a test is marked with what its fixtures bring, every such need is registered,
and the unit lane leaves out every one of them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from hypothesis import settings

from tests.conftest import Need, Profile, needs_of
from tests.support.examples import examples, share

ROOT = Path(__file__).resolve().parent.parent


def test_a_test_needs_what_its_fixtures_bring() -> None:
    assert needs_of(["pool", "engine_settings", "chart_server", "tmp_path"], {}) == {Need.KPOPS}
    assert needs_of(["versioned_engine_settings", "versioned_chart_server"], {}) == {Need.KPOPS}
    assert needs_of(["image", "docker_daemon", "chart_server"], {}) == {Need.DOCKER, Need.KPOPS}
    assert needs_of(["deployment_repo", "workspace", "tmp_path"], {}) == set()
    assert needs_of(["helm", "tmp_path"], {}) == {Need.SUBPROCESS}  # the helm service runs as a process of its own


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
    (unit,) = re.findall(r'^\s*unit\) lane=\(-m "not \((.*)\)"[ )]', script, re.MULTILINE)
    assert set(unit.split(" or ")) == registered


def test_the_unit_lane_draws_fewer_examples_and_everything_else_draws_them_all() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    lanes = dict(re.findall(r"^\s*(\w+)\) lane=\((.*)\) ;;$", script, re.MULTILINE))
    assert f"--hypothesis-profile {Profile.UNIT.value}" in lanes["unit"]
    assert "--hypothesis-profile" not in lanes["fast"]  # and no lane at all (CI) passes no option: the full profile
    full = settings.get_profile(Profile.FULL.value)
    assert full.max_examples == settings.get_profile("default").max_examples
    assert settings.get_profile(Profile.UNIT.value).max_examples < full.max_examples


def test_a_tests_count_of_examples_scales_with_the_loaded_profile() -> None:
    loaded = settings.default
    try:
        settings.load_profile(Profile.FULL.value)
        assert examples(600) == 600
        assert examples(4) == 4
        settings.load_profile(Profile.UNIT.value)
        assert examples(600) == 60
        assert examples(4) == 1  # a property test runs at least once in any lane
        assert share(range(100)) == range(0, 100, 10)  # ten evenly spaced cases, the first among them
        settings.load_profile(Profile.FULL.value)
        assert share(range(100)) == range(100)
    finally:
        settings.register_profile("_before_lanes_test", loaded)
        settings.load_profile("_before_lanes_test")
