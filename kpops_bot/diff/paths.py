"""Field paths as reviewers read them (`values.replicaCount`, `metadata.labels["helm.sh/chart"]`) and ignore rules."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

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
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif isinstance(segment, str) and _PLAIN_KEY.fullmatch(segment):
            text += f".{segment}" if text else segment
        else:
            text += f'["{segment}"]'
    return text


class FieldFilter:
    """Drops fields whose path matches one of the patterns; `*` matches any characters."""

    def __init__(self, patterns: Iterable[str] = DEFAULT_IGNORED_FIELDS) -> None:
        self.patterns = tuple(patterns)
        alternatives = [re.escape(pattern).replace(r"\*", ".*") for pattern in self.patterns]
        self._regex = re.compile("|".join(f"(?:{a})" for a in alternatives)) if alternatives else None

    def ignores(self, segments: Sequence[Any]) -> bool:
        return self._regex is not None and self._regex.fullmatch(format_path(segments)) is not None

    def apply(self, document: Any, prefix: tuple[Any, ...] = ()) -> Any:
        """A copy of the document without the ignored fields."""
        if isinstance(document, dict):
            return {
                key: self.apply(value, (*prefix, key))
                for key, value in document.items()
                if not self.ignores((*prefix, key))
            }
        if isinstance(document, list):
            return [self.apply(item, (*prefix, index)) for index, item in enumerate(document)]
        return document
