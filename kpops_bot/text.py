"""Cutting text to a size, one way for every place the bot shortens what it shows."""

from __future__ import annotations

ELLIPSIS = "…"


def shorten(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` when it fits in `limit` characters, else its start and `ellipsis`, `limit` characters in all."""
    return text if len(text) <= limit else text[: max(0, limit - len(ellipsis))] + ellipsis


def leading_lines(text: str, max_chars: int) -> tuple[list[str], int]:
    """The leading whole lines of `text` within `max_chars`, and how many lines were cut off."""
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    return kept, len(lines) - len(kept)
