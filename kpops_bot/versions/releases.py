"""The edge that turns a revision's files into the kpops release that renders them, and that release into an
environment: pin (pure) → resolved with the index or offline (cached a while) → environment built on demand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from packaging.version import Version

from kpops_bot.versions.environments import EnvironmentStore, KpopsEnvironment
from kpops_bot.versions.index import Resolved, SupportedReleases, WaitListener, default_index_url, resolve
from kpops_bot.versions.pin import Pin, find_pin

_RESOLVED_FOR = 600.0  # seconds a pin's resolution is reused before the index is asked again


class KpopsReleases:
    """Resolves pins and hands out environments; shared by every repository and job of the process."""

    def __init__(
        self,
        store: EnvironmentStore,
        *,
        index_url: str | None = None,
        offline: bool = False,
        supported: SupportedReleases | None = None,
    ) -> None:
        self._store = store
        self._index_url = index_url or default_index_url()
        self._offline = offline
        self._supported = supported or SupportedReleases()
        self._resolved: dict[str, tuple[float, Resolved]] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> EnvironmentStore:
        return self._store

    def release_for(self, files: Sequence[str], read: Callable[[str], str | None]) -> Resolved:
        """The release that renders a revision with these files; raises InvalidPinError / UnresolvablePinError."""
        return self.resolve(find_pin(files, read))

    def resolve(self, pin: Pin) -> Resolved:
        key = str(pin.specifier)
        with self._lock:
            cached = self._resolved.get(key)
        if cached is not None and time.monotonic() - cached[0] < _RESOLVED_FOR:
            return cached[1]
        resolved = resolve(
            pin, index_url=self._index_url, offline=self._offline, built=self._store.built(), supported=self._supported
        )
        with self._lock:
            self._resolved[key] = (time.monotonic(), resolved)
        return resolved

    def environment(self, resolved: Resolved, on_wait: WaitListener | None = None) -> KpopsEnvironment | None:
        """The environment of `resolved`, built if needed; None for the bot's own kpops."""
        if resolved.own:
            return None
        return self._store.get(resolved.version, resolved.requires_python, on_wait)

    def prune(self, unused_for: float) -> list[Version]:
        return self._store.prune(unused_for)
