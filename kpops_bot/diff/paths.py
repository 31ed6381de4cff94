"""Field paths as reviewers read them (`values.replicaCount`, `metadata.labels["helm.sh/chart"]`) and ignore rules."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MATCHES_KEPT = 100_000

DEFAULT_IGNORED_FIELDS = (
    'metadata.labels["helm.sh/chart"]',
    'metadata.labels["app.kubernetes.io/version"]',
    "metadata.labels.chart",
    '*.annotations["checksum/*"]',
    'spec.template.metadata.labels["helm.sh/chart"]',
    'spec.template.metadata.labels["app.kubernetes.io/version"]',
)


def format_path(segments: Sequence[Any]) -> str:
    """`["values", "kafka", "config", "tasks.max"]` → `values.kafka.config["tasks.max"]`."""
    text = ""
    for segment in segments:
        text = _extended(text, segment)
    return text


def _extended(text: str, segment: Any) -> str:
    if isinstance(segment, int):
        return f"{text}[{segment}]"
    if isinstance(segment, str) and _PLAIN_KEY.fullmatch(segment):
        return f"{text}.{segment}" if text else segment
    return f'{text}["{segment}"]'


class FieldFilter:
    """Drops fields whose path matches one of the patterns; `*` matches any characters."""

    def __init__(self, patterns: Iterable[str] = DEFAULT_IGNORED_FIELDS) -> None:
        self.patterns = tuple(patterns)
        alternatives = [re.escape(pattern).replace(r"\*", ".*") for pattern in self.patterns]
        self._regex = re.compile("|".join(f"(?:{a})" for a in alternatives)) if alternatives else None
        # Every render of a run has the same few hundred paths: each is matched once.
        self._ignored: dict[str, bool] = {}

    def ignores(self, segments: Sequence[Any]) -> bool:
        return self._ignores_text(format_path(segments))

    def _ignores_text(self, text: str) -> bool:
        if self._regex is None:
            return False
        ignored = self._ignored.get(text)
        if ignored is None:
            if len(self._ignored) >= _MATCHES_KEPT:  # a long-lived filter sees many repositories
                self._ignored.clear()
            ignored = self._ignored[text] = self._regex.fullmatch(text) is not None
        return ignored

    def apply(self, document: Any, prefix: tuple[Any, ...] = ()) -> Any:
        """A copy of the document without the ignored fields."""
        return self._apply(document, format_path(prefix))

    def _apply(self, document: Any, path: str) -> Any:
        if isinstance(document, dict):
            kept = {}
            for key, value in document.items():
                child = _extended(path, key)
                if not self._ignores_text(child):
                    kept[key] = self._apply(value, child)
            return kept
        if isinstance(document, list):
            return [self._apply(item, _extended(path, index)) for index, item in enumerate(document)]
        return document
