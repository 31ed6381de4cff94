"""A pin resolved to one kpops release: the bot's own kpops when it satisfies the pin, else the newest release
of the package index that does (PEP 691 JSON simple API), or offline the newest environment already built.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from kpops_bot.versions.pin import Pin

DEFAULT_INDEX_URL = "https://pypi.org/simple"
_JSON = "application/vnd.pypi.simple.v1+json"


WaitListener = Callable[[Version], None]
"""Hears that a job waits for the environment of this release to be built (its first use on this machine)."""


class UnresolvablePinError(RuntimeError):
    """No release satisfies the pin (or the index cannot be asked); the message is for the pull request."""


@dataclass(frozen=True)
class Release:
    version: Version
    requires_python: SpecifierSet


@dataclass(frozen=True)
class Resolved:
    """The release a render uses; `own` when it is the bot's kpops (no environment of its own needed)."""

    version: Version
    requires_python: SpecifierSet
    own: bool


@dataclass(frozen=True)
class SupportedReleases:
    """The kpops majors the bot renders with (its render child speaks their dialects); others are refused."""

    oldest_major: int = 8
    newest_major: int = 12

    def contains(self, version: Version) -> bool:
        return self.oldest_major <= version.major <= self.newest_major

    def refusal(self, what: str) -> str:
        return (
            f"{what} is not supported: the bot renders with kpops {self.oldest_major} to {self.newest_major} "
            "(the settings kpops_oldest_major and kpops_newest_major widen it)"
        )


def default_index_url() -> str:
    """The machine's index: uv's or pip's setting when there is one, else PyPI."""
    return os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL


def bot_kpops_version() -> str:
    return importlib.metadata.version("kpops")


def choose(pin: Pin, releases: Iterable[Release]) -> Release | None:
    """The newest final release satisfying the pin (pre-releases only when the pin names one)."""
    named_pre = any(Version(spec.version.rstrip(".*")).is_prerelease for spec in pin.specifier)
    matching = [
        release
        for release in releases
        if pin.specifier.contains(release.version, prereleases=True)
        and (named_pre or not release.version.is_prerelease)
    ]
    return max(matching, key=lambda release: release.version, default=None)


def resolve(
    pin: Pin,
    *,
    index_url: str,
    offline: bool,
    built: Iterable[Release],
    supported: SupportedReleases | None = None,
) -> Resolved:
    """The release for `pin`; offline, only the bot's kpops and `built` environments are candidates.

    Only releases of the supported majors are candidates: a pin that only older (or newer) releases match is refused
    before anything is installed.
    """
    supported = supported or SupportedReleases()
    own = Version(bot_kpops_version())
    if pin.specifier.contains(own):
        return Resolved(own, SpecifierSet(), own=True)
    candidates = list(built) if offline else index_releases(index_url)
    release = choose(pin, [candidate for candidate in candidates if supported.contains(candidate.version)])
    if release is None:
        if (unsupported := choose(pin, candidates)) is not None:
            raise UnresolvablePinError(supported.refusal(f"kpops {unsupported.version} ({pin.describe()})"))
        where = "among the environments already built (offline)" if offline else f"on {index_url}"
        raise UnresolvablePinError(f"no kpops release matches {pin.describe()} {where}")
    return Resolved(release.version, release.requires_python, own=False)


def index_releases(index_url: str) -> list[Release]:
    """Every kpops release on the index with the Python versions its files need."""
    import httpx  # with the rich it pulls in, a tenth of a second that only a pin needing the index pays

    url = f"{index_url.rstrip('/')}/kpops/"
    try:
        response = httpx.get(url, headers={"Accept": _JSON}, timeout=30, follow_redirects=True)
        response.raise_for_status()
        files = response.json()["files"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        raise UnresolvablePinError(f"the package index {index_url} could not list kpops: {error}") from error
    releases: dict[Version, SpecifierSet] = {}
    for entry in files:
        if entry.get("yanked") or not entry["filename"].endswith(".whl"):
            continue
        version = _wheel_version(entry["filename"])
        if version is not None:
            releases[version] = _python_specifier(entry.get("requires-python"))
    return [Release(version, python) for version, python in releases.items()]


def _wheel_version(filename: str) -> Version | None:
    try:
        return Version(filename.split("-")[1])
    except (IndexError, InvalidVersion):
        return None


def _python_specifier(text: str | None) -> SpecifierSet:
    try:
        return SpecifierSet(text or "")
    except InvalidSpecifier:
        return SpecifierSet()
