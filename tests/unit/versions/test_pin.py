"""Which kpops a repository pins: `.kpops-bot.yaml`, then requirements files, then pyproject, then the bot's."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from kpops_bot.versions.index import Release, choose
from kpops_bot.versions.pin import DEFAULT_PIN, InvalidPinError, Pin, PinSource, find_pin


def pin_of(files: dict[str, str]) -> Pin:
    return find_pin(files, files.get)


def test_requirements_pin_as_published_by_kpops_examples() -> None:
    pin = pin_of({"requirements.txt": "# deps\nkpops~=8.1.4  # the CLI\n"})
    assert pin == Pin(SpecifierSet("~=8.1.4"), PinSource.REQUIREMENTS, "requirements.txt")


def test_bot_config_wins_over_requirements_and_a_bare_version_is_exact() -> None:
    pin = pin_of({".kpops-bot.yaml": "kpops_version: 9.4.1\n", "requirements.txt": "kpops~=8.1.4\n"})
    assert (pin.specifier, pin.source) == (SpecifierSet("==9.4.1"), PinSource.BOT_CONFIG)


def test_bot_config_without_a_version_falls_through() -> None:
    pin = pin_of({".kpops-bot.yaml": "previews: true\n", "requirements-dev.txt": "pytest\nKPOps[docs]>=10,<11\n"})
    assert (pin.specifier, pin.file) == (SpecifierSet(">=10,<11"), "requirements-dev.txt")


def test_requirements_below_the_root_are_not_the_repository_pin() -> None:
    assert pin_of({"tools/requirements.txt": "kpops==8.0.0\n"}) == DEFAULT_PIN


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        ('[project]\ndependencies = ["kpops>=11,<12"]\n', ">=11,<12"),
        ('[project.optional-dependencies]\ndeploy = ["kpops==10.9.0"]\n', "==10.9.0"),
        ('[tool.poetry.dependencies]\nkpops = "^8.1.4"\n', ">=8.1.4,<9"),
        ('[tool.poetry.dependencies]\nkpops = {version = "~9.2"}\n', ">=9.2,<9.3"),
    ],
)
def test_pyproject_pins(pyproject: str, expected: str) -> None:
    pin = pin_of({"pyproject.toml": pyproject})
    assert (pin.specifier, pin.source) == (SpecifierSet(expected), PinSource.PYPROJECT)


def test_no_pin_is_the_bots_kpops() -> None:
    assert pin_of({"requirements.txt": "requests\n", "pyproject.toml": "[project]\nname='x'\n"}).is_default


def test_an_invalid_pin_is_named() -> None:
    with pytest.raises(InvalidPinError, match=r"kpops_version: 'eight' is not a version specifier"):
        pin_of({".kpops-bot.yaml": "kpops_version: eight\n"})


def test_the_newest_matching_final_release_is_chosen() -> None:
    releases = [Release(Version(v), SpecifierSet()) for v in ("8.1.3", "8.1.4", "8.2.0", "9.0.0", "9.1.0rc1")]
    assert choose(Pin(SpecifierSet("~=8.1.4"), PinSource.REQUIREMENTS), releases) == releases[1]
    assert choose(Pin(SpecifierSet(">=8,<9"), PinSource.REQUIREMENTS), releases) == releases[2]
    assert choose(Pin(SpecifierSet(">=9"), PinSource.REQUIREMENTS), releases) == releases[3]
    assert choose(Pin(SpecifierSet(">=13"), PinSource.REQUIREMENTS), releases) is None
