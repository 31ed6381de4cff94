"""The one home for showing foreign text: names, values, messages, branches, users and paths that come from a
repository, a pull request or a forge. Pure: text in, text out.

Such text is data, never markup. Each function here fits one place the bot writes to, and every interpolation of
foreign text goes through one of them:

- `code`: markdown prose (a list item, a paragraph): a backtick code span longer than any backtick run inside.
- `quoted`: `code` for what a person or a repository wrote, quoted back (a command line, a token of it, a path):
  cut to one length everywhere.
- `cell_code`: a markdown table cell: `code` with every `|` escaped.
- `html_code`: inside an HTML block (the `<details><summary>` lines, where markdown is not read): `<code>` with
  HTML's characters as entities.
- `html_text`: plain words in an HTML block (a pipeline's name in `<b>`): entities and defused references.
- `text`: plain words in markdown prose, every markdown punctuation escaped.
- `composed`: a line the bot composed with foreign names already in code spans (risk messages, notes): one line,
  no raw HTML, no references outside its code spans, whatever backticks the names carried.
- `mermaid_label`: a label inside a mermaid `["…"]` node.
- `plain`: plain-text places (check-run titles, annotations): one line, nothing invisible.
- `commit_line`: a value in a commit message: one line, control characters dropped.

Everywhere: line breaks and control characters are shown, not obeyed (`⏎`, `\\x07`), and so are the Unicode line
and paragraph separators and the bidi controls that reorder what a reader sees. References (`@user`, `@org/team`,
`#123`, `GH-1`, GitLab's `!12`) and bare links (`https://`, `www.`) outside code get a zero-width joiner after their
sign, so the forge neither pings nor links them; inside code they are inert already.
"""

from __future__ import annotations

import html
import re

from kpops_bot.text import shorten

NEWLINE = "⏎"
_ZWJ = "\u200d"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufeff]")
_BACKTICKS = re.compile(r"`+")
# What opens or closes a comment or a folded section, even where the text is code: a joiner splits it.
_MARKERS = re.compile(r"<(?=!--|/?details|/?summary)|--(?=>)", re.IGNORECASE)
# A sign that makes a reference when a word follows it: mentions, issues and pull requests, GitLab's merge requests;
# and what starts a bare link the forges make clickable (`https://`, `www.`).
_REFERENCE = re.compile(r"([@#!]|\bGH-)(?=\w)|(\b[a-z][a-z0-9+.-]*:)(?=//)|(\bwww)(?=\.)", re.IGNORECASE)
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>#|~!$&])")
_PROSE_PUNCTUATION = re.compile(r"([\\`\[\]#|])")


def visible(value: str) -> str:
    """`value` on one line: a line break shows as ⏎, other control and bidi characters as their escapes."""
    return _CONTROL.sub(_show_control, value)


def _show_control(match: re.Match[str]) -> str:
    character = match.group()
    if character == "\n":
        return NEWLINE
    if character == "\r":
        return "\\r"
    if character == "\t":
        return "\\t"
    point = ord(character)
    return f"\\x{point:02x}" if point <= 0xFF else f"\\u{point:04x}"


def defuse_markers(value: str) -> str:
    """`<!--`, `-->`, `<details>`, `</details>` (and `<summary>`) with a zero-width joiner inside: no reader, no
    forge and no tool that counts them mistakes a value for the report's own comments and folds."""
    return _MARKERS.sub(lambda match: match.group() + _ZWJ, value)


def defuse_references(value: str) -> str:
    """A zero-width joiner after every reference sign, so `@org/team`, `#123` and `https://x` are words, not pings
    or links."""
    return _REFERENCE.sub(lambda match: match.group() + _ZWJ, value)


def code(value: str, limit: int | None = None) -> str:
    """Markdown inline code showing `value` exactly (on one line): fenced by one backtick more than its longest run,
    padded with a space where it starts or ends with a backtick (or a space), so the span cannot close early."""
    shown = _shown(value, limit)
    if not shown:
        return "` `"
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(shown)), default=0) + 1)
    # CommonMark strips one space at each end of a span unless it is all spaces: a padded span keeps its text.
    pad = " " if shown.strip(" ") and (shown[0] in "` " or shown[-1] in "` ") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


QUOTED_LIMIT = 120


def quoted(value: str) -> str:
    """`code` of a person's or a repository's text quoted back, cut to `QUOTED_LIMIT` characters: long enough to
    recognise, short enough that a pasted essay does not become the answer."""
    return code(value, QUOTED_LIMIT)


def cell_code(value: str, limit: int | None = None) -> str:
    """`code` for a markdown table cell: every `|` escaped (a table splits its rows before it reads code spans, and
    drops the backslash of each `\\|`, inside code spans too)."""
    return code(value, limit).replace("|", "\\|")


def html_code(value: str, limit: int | None = None) -> str:
    """`<code>` showing `value` inside an HTML block (not read as markdown there): no tag, comment or entity of its
    own can open."""
    return "<code>" + html.escape(_shown(value, limit), quote=False) + "</code>"


def html_text(value: str, limit: int | None = None) -> str:
    """Words inside an HTML block (`<b>` in a `<summary>`) or a table cell: HTML's characters and `|` as entities,
    references defused."""
    return html.escape(defuse_references(_shown(value, limit)), quote=False).replace("|", "&#124;")


def text(value: str, limit: int | None = None) -> str:
    """Words inside a line of markdown prose (not at its start): every character that marks up inline text
    backslash-escaped, references defused."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", defuse_references(_shown(value, limit)))


def composed(line: str, *, cell: bool = False) -> str:
    """A line the bot composed, with foreign names in backtick code spans, made safe as one line of markdown (and
    as one table cell when `cell`).

    The code spans are found as CommonMark finds them (a run of n backticks up to the next run of exactly n), so a
    name that brought its own backticks only moves where spans begin and end: what falls inside is inert code, what
    falls outside gets its HTML escaped and its references defused. In a cell every `|` is escaped, code spans
    included (a table splits its rows before it reads code spans, and drops the backslash of `\\|` everywhere).
    """
    shown = defuse_markers(visible(line))
    parts: list[str] = []
    position = 0
    for start, end in _code_spans(shown):
        parts += [_prose(shown[position:start]), shown[start:end].replace("|", "\\|") if cell else shown[start:end]]
        position = end
    parts.append(_prose(shown[position:]))
    return "".join(parts)


def _code_spans(line: str) -> list[tuple[int, int]]:
    runs = [(match.start(), match.end()) for match in _BACKTICKS.finditer(line)]
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(runs):
        start, end = runs[index]
        closer = next((j for j in range(index + 1, len(runs)) if runs[j][1] - runs[j][0] == end - start), None)
        if closer is None:
            index += 1
            continue
        spans.append((start, runs[closer][1]))
        index = closer + 1
    return spans


def _prose(fragment: str) -> str:
    """Text outside code spans: no HTML, no link, image or heading syntax, no references; backslashes stay literal."""
    escaped = _PROSE_PUNCTUATION.sub(r"\\\1", defuse_references(fragment))
    return html.escape(escaped, quote=False)


def fence(body: str, minimum: int = 3) -> str:
    """The backtick fence of a code block holding `body`: longer than any backtick run inside, so no line of the
    body can close the block (`</details>`, `<!--` and headings inside stay text)."""
    return "`" * max(minimum, max((len(run) for run in _BACKTICKS.findall(body)), default=0) + 1)


def fenced(body: str, info: str = "") -> str:
    """`body` as a fenced code block, with its closing line: its line breaks kept, every other control, separator
    and bidi character shown."""
    shown = "\n".join(visible(line) for line in body.rstrip("\n").split("\n"))  # its lines, each shown
    marks = fence(shown)
    return f"{marks}{info}\n{defuse_markers(shown)}\n{marks}"


def mermaid_label(value: str, limit: int | None = None) -> str:
    """Text inside a quoted mermaid label: mermaid's own entity codes for `#`, `"` and backticks, HTML escaped
    (mermaid renders labels as HTML), on one line so that no line of the diagram's fence can end it."""
    shown = html.escape(_shown(value, limit), quote=False)
    return shown.replace("#", "#35;").replace('"', "#quot;").replace("`", "#96;")


def plain(value: str, limit: int | None = None) -> str:
    """Plain text on one line (check-run titles and annotations, which the forge does not read as markdown)."""
    return _shown(value, limit)


def commit_line(value: str) -> str:
    """A value inside one line of a commit message: control, separator and bidi characters dropped, so that it can
    neither start a line (a forged trailer, a forged paragraph) nor hide what the line says."""
    return "".join(character for character in value if not _CONTROL.fullmatch(character))


def _fit(value: str, limit: int | None) -> str:
    return value if limit is None else shorten(value, limit)


def _shown(value: str, limit: int | None) -> str:
    return _fit(defuse_markers(visible(value)), limit)
