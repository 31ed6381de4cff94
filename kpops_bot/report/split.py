"""Split a report into comment parts under a size limit without cutting a code fence or a `<details>` block.

The report arrives as blocks that are each well-formed markdown: the header (summary), and per pipeline an opening,
chunks (one per component or resource) and a closing. Parts are cut only between blocks; a section split across parts
is closed and reopened with a "(continued)" summary. Past `max_parts`, what does not fit is named, not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.escape import code
from kpops_bot.report.identity import part_line
from kpops_bot.text import leading_lines

# Room kept in every part for its marker line and the "part i of n" line.
_PART_OVERHEAD = 240
_MAX_NOTE = 1500


@dataclass(frozen=True)
class Section:
    opening: str
    continued: str  # the opening used when the section goes on in a new part
    chunks: Sequence[str] = ()
    closing: str = ""
    name: str = ""

    @property
    def text(self) -> str:
        return self.opening + "".join(self.chunks) + self.closing


def chunk_budget(limit: int | None) -> int | None:
    """The largest chunk that always fits in a part (after a continued opening and the closing)."""
    return None if limit is None else max(200, (limit - _PART_OVERHEAD - _note_room(limit)) * 3 // 4)


def _note_room(limit: int) -> int:
    return min(_MAX_NOTE, limit // 5)


class _Parts:
    def __init__(self, header: str, limit: int | None, max_parts: int, footer: str = "") -> None:
        self.limit = limit
        self.footer = footer
        self.max_parts = max(1, max_parts)
        self.parts: list[list[str]] = [[]]
        self.sizes = [0]
        self.omitted: list[str] = []
        self.add(_fit_header(header, self.room()))

    def room(self) -> int:
        if self.limit is None:
            return 1 << 62
        note = _note_room(self.limit) if len(self.parts) == self.max_parts else 0
        # Any part may turn out the last one, which ends with the footer.
        return self.limit - _PART_OVERHEAD - note - len(self.footer) - self.sizes[-1]

    def fits(self, text: str) -> bool:
        return len(text) <= self.room()

    def add(self, text: str) -> None:
        self.parts[-1].append(text)
        self.sizes[-1] += len(text)

    def can_open(self) -> bool:
        return len(self.parts) < self.max_parts

    def open(self) -> None:
        self.parts.append([])
        self.sizes.append(0)

    def place(self, section: Section) -> None:
        if self.omitted:
            self.omitted.append(section.name)
            return
        if self.fits(section.text):
            self.add(section.text)
            return
        if self.can_open():
            self.open()
            if self.fits(section.text):
                self.add(section.text)
                return
        self._place_in_pieces(section)

    def _place_in_pieces(self, section: Section) -> None:
        first = section.chunks[0] if section.chunks else ""
        if not self.fits(section.opening + first + section.closing):
            self.omitted.append(section.name)
            return
        self.add(section.opening)
        for index, chunk in enumerate(section.chunks):
            if self.fits(chunk + section.closing):
                self.add(chunk)
                continue
            self.add(section.closing)
            if not self.can_open():
                remaining = len(section.chunks) - index
                self.omitted.append(f"{section.name} ({remaining} of {len(section.chunks)} blocks)")
                return
            self.open()
            self.add(section.continued)
            self.add(chunk)
        self.add(section.closing)

    def texts(self) -> list[str]:
        total = len(self.parts)
        if self.omitted:
            self.parts[-1].append(_omitted_note(self.omitted, self.max_parts, self.limit))
        texts = []
        for number, blocks in enumerate(self.parts, start=1):
            lines = [part_line(number, total)]
            if number > 1:
                lines.append(f"**kpops-bot dry run, part {number} of {total}** (continued from the previous comment)\n")
            body = "".join(blocks).rstrip()
            if number == total and self.footer:
                body += "\n\n" + self.footer.rstrip()
            texts.append("\n".join(lines) + "\n" + body + "\n")
        return texts


def split(
    header: str, sections: Sequence[Section], *, limit: int | None, max_parts: int, footer: str = ""
) -> list[str]:
    """The parts; `footer` ends the last one (the commands to comment next, the bot's version)."""
    parts = _Parts(header if header.endswith("\n") else header + "\n", limit, max_parts, footer)
    for section in sections:
        parts.place(section)
    return parts.texts()


def _fit_header(header: str, room: int) -> str:
    """The header, cut at a line boundary (a table stays a table) when even it is too long."""
    if len(header) <= room:
        return header
    kept, cut = leading_lines(header, room - 100)
    return "\n".join([*kept, "", f"_… {cut} more summary lines not shown._", ""]) + "\n"


def _omitted_note(names: Sequence[str], max_parts: int, limit: int | None) -> str:
    budget = _note_room(limit) - 200 if limit is not None else _MAX_NOTE
    listed: list[str] = []
    for name in names:
        if sum(len(item) + 4 for item in listed) + len(name) > budget:
            listed.append(f"and {len(names) - len(listed)} more")
            break
        listed.append(code(name))
    return (
        f"\n\n---\n**Left out** (the report needs more than {max_parts} comments): {', '.join(listed)}. "
        "The summary above covers them; `kpops-bot diff --format json` shows everything.\n"
    )
