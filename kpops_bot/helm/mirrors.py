"""Chart mirrors: serve a deployment repository's chart repositories from another URL.

A mirror maps a chart repository, named either by the name kpops gives it (`bakdata-streams-bootstrap`) or by
its URL, to another URL. It is applied when a repository is added, so the deployment repository stays unmodified
while air-gapped sites render against an internal mirror and tests against a local chart server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MIRRORS_ENV = "KPOPS_BOT_CHART_MIRRORS"


class InvalidMirrorError(ValueError):
    """A mirror given as FROM=TO that cannot be used."""


def _normalise(url_or_name: str) -> str:
    return url_or_name.strip().rstrip("/")


@dataclass(frozen=True)
class ChartMirrors:
    """Repository name or URL → mirror URL."""

    mapping: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, pairs: Iterable[str]) -> ChartMirrors:
        """Parse `FROM=TO` pairs as given on the command line."""
        mapping: dict[str, str] = {}
        for pair in pairs:
            source, separator, target = pair.partition("=")
            if not separator or not source.strip() or not target.strip():
                msg = f"chart mirror {pair!r} is not FROM=TO (a repository name or URL, then a URL)"
                raise InvalidMirrorError(msg)
            if "://" not in target:
                msg = f"chart mirror target {target!r} is not a URL"
                raise InvalidMirrorError(msg)
            mapping[_normalise(source)] = target.strip()
        return cls(mapping)

    @classmethod
    def from_json(cls, text: str) -> ChartMirrors:
        return cls(json.loads(text)) if text else cls()

    def to_json(self) -> str:
        return json.dumps(dict(sorted(self.mapping.items())))

    def apply(self, name: str, url: str) -> str:
        """The URL to use for repository `name` at `url`: a mirror for its name wins over one for its URL."""
        return self.mapping.get(_normalise(name)) or self.mapping.get(_normalise(url)) or url

    def __bool__(self) -> bool:
        return bool(self.mapping)
