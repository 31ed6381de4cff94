"""The sticky comment's identity: how the bot marks, numbers, finds and strips its report parts.

Every part starts with a hidden marker line, `<!-- kpops-bot:diff part i/n -->`; a comment of the bot whose first
line is that marker is a part of the report. Notices that replace the report use the same line, so they are found
and replaced the same way.
"""

from __future__ import annotations

MARKER = "<!-- kpops-bot:diff"


def part_line(number: int, total: int) -> str:
    return f"{MARKER} part {number}/{total} -->"


def is_part(body: str) -> bool:
    """The comment body starts with the marker (whether the bot wrote it is for the caller to check)."""
    return body.lstrip().startswith(MARKER)


def single_part(text: str) -> str:
    """A one-part report: `text` under the marker line."""
    return f"{part_line(1, 1)}\n{text.strip()}\n"


def strip_marker(body: str) -> str:
    """The part without its marker line, for text shown outside the sticky comment (a reply)."""
    return "\n".join(line for line in body.splitlines() if not line.startswith(MARKER))


def split_marker(body: str) -> tuple[str, str]:
    """The marker line and the rest of a part."""
    marker_line, _, rest = body.partition("\n")
    return marker_line, rest
