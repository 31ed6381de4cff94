"""The identity of the bot's comments: how the bot marks, numbers, finds and strips its report parts and answers.

Every part starts with a hidden marker line, `<!-- kpops-bot:diff part i/n -->`; a comment of the bot whose first
line is that marker is a part of the report. Notices that replace the report use the same line, so they are found
and replaced the same way.

Every answer starts with `<!-- kpops-bot:answer IDENTITY [OUTCOME] -->`: the identity (one word, `comment:55`,
`apply:<sha>`) names the work it answers, so a retried job finds its answer and posts none twice; the outcome is what
the retry needs to finish the rest (the apply's final status).
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


ANSWER_MARKER = "<!-- kpops-bot:answer"


def answer_line(identity: str, outcome: str = "") -> str:
    return f"{ANSWER_MARKER} {identity}{' ' + outcome if outcome else ''} -->"


def with_answer_line(identity: str, body: str, outcome: str = "") -> str:
    return f"{answer_line(identity, outcome)}\n{body}"


def answer_of(body: str) -> tuple[str, str] | None:
    """The (identity, outcome) of an answer's marker line; None for any other comment."""
    first = body.lstrip().partition("\n")[0]
    if not (first.startswith(ANSWER_MARKER + " ") and first.endswith("-->")):
        return None
    words = first.removeprefix(ANSWER_MARKER).removesuffix("-->").split()
    if not words:
        return None
    return words[0], " ".join(words[1:])
