"""`/kpops <command> [pipeline ...] [--steps a,b] [--environment E] [--dry-run]` lines of a comment → commands.

Pure: nothing here reads the repository. Pipeline names are only checked for shape (no paths that leave the
repository, no shell syntax); whether they exist is decided against the revision the command acts on.

A command is only what a reader sees as a line of text: the comment is parsed as CommonMark (markdown-it-py) and
commands are taken from the lines of top-level paragraphs alone, never from code (fenced or indented), HTML
comments, HTML blocks, folded `<details>`, quotes or lists. Only `\n` and `\r\n` end a line: a lone CR, a
vertical tab, a form feed or U+2028 do not start a new one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

from kpops_bot.commands.catalog import CommandName
from kpops_bot.escape import quoted

PREFIX = "/kpops"
MAX_COMMENT_CHARS = 10_000
MAX_COMMANDS = 5
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9._/,=-]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MARKDOWN = MarkdownIt("commonmark")
_DETAILS_OPEN = re.compile(r"<details\b", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
_LINE_BREAKS = ("softbreak", "hardbreak")


_FLAGS = ("--steps", "--environment", "--dry-run")
_FLAG_ALIASES = {"-e": "--environment", "--env": "--environment", "--step": "--steps", "--dryrun": "--dry-run"}


@dataclass(frozen=True)
class Command:
    name: CommandName
    pipelines: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    environment: str | None = None
    dry_run: bool = False
    line: str = ""


@dataclass(frozen=True)
class Rejected:
    """A `/kpops` line that is not a valid command; `reason` is shown to its author as is."""

    reason: str
    line: str = ""


Parsed = Command | Rejected


class _Invalid(ValueError):
    pass


def command_lines(body: str) -> list[str]:
    """Lines of the comment addressed to the bot: plain text lines of top-level paragraphs outside `<details>`."""
    if PREFIX not in body:
        return []
    # CommonMark ends a line at a lone CR too; a reader of the forge's page does not see one there.
    text = body.replace("\r\n", "\n").replace("\r", " ")
    lines: list[str] = []
    for paragraph in _visible_paragraphs(_MARKDOWN.parse(text)):
        for line in _text_lines(paragraph.children or []):
            if line == PREFIX or line.startswith(PREFIX + " "):
                lines.append(line)
    return lines


def _visible_paragraphs(tokens: Sequence[Token]) -> Iterator[Token]:
    """The inline tokens of top-level paragraphs that no `<details>` folds away (in part or whole)."""
    folded = 0
    for previous, token in zip([None, *tokens], tokens, strict=False):
        if token.type == "html_block":
            folded = max(0, folded + _details_depth([token.content]))
        elif (
            token.type == "inline"
            and previous is not None
            and previous.type == "paragraph_open"
            and previous.level == 0
        ):
            html = [child.content for child in token.children or [] if child.type == "html_inline"]
            if folded == 0 and not any(_DETAILS_OPEN.search(text) for text in html):
                yield token
            folded = max(0, folded + _details_depth(html))


def _details_depth(texts: Sequence[str]) -> int:
    return sum(len(_DETAILS_OPEN.findall(text)) - len(_DETAILS_CLOSE.findall(text)) for text in texts)


def _text_lines(children: Sequence[Token]) -> Iterator[str]:
    """Each line of a paragraph that is plain text alone (no code span, HTML, link or emphasis in it)."""
    parts: list[str] = []
    plain = True
    for child in [*children, Token("softbreak", "", 0)]:
        if child.type in _LINE_BREAKS:
            if plain:
                yield "".join(parts).strip(" \t")
            parts, plain = [], True
        elif child.type == "text":
            parts.append(child.content)
        else:
            plain = False


def addresses_bot(body: str) -> bool:
    """Whether `parse_comment` finds a command (or must reject a comment too long to read): never False then."""
    if len(body) > MAX_COMMENT_CHARS:
        return PREFIX in body
    return bool(command_lines(body))


def parse_comment(body: str) -> list[Parsed]:
    """Every command line of a comment, parsed or rejected; an empty list when none is addressed to the bot."""
    lines = command_lines(body)
    if not lines:
        return []
    if len(body) > MAX_COMMENT_CHARS:
        return [Rejected(f"the comment is too long ({len(body):,} characters, at most {MAX_COMMENT_CHARS:,})")]
    if len(lines) > MAX_COMMANDS:
        return [Rejected(f"too many commands in one comment ({len(lines)}, at most {MAX_COMMANDS})")]
    return [parse_line(line) for line in lines]


def parse_line(line: str) -> Parsed:
    try:
        return _parse(line)
    except _Invalid as error:
        return Rejected(str(error), line)


def _parse(line: str) -> Command:
    tokens = line.split()[1:]
    for token in tokens:
        if not _SAFE_TOKEN.match(token):
            bad = "".join(sorted({char for char in token if not _SAFE_TOKEN.match(char)}))
            raise _Invalid(f"{quoted(token)} contains characters commands never use: {quoted(bad)}")
    if not tokens:
        return Command(CommandName.HELP, line=line)
    name = _command_name(tokens[0])
    pipelines: list[str] = []
    steps: tuple[str, ...] = ()
    environment: str | None = None
    dry_run = False
    rest = iter(tokens[1:])
    for token in rest:
        if not token.startswith("-"):
            pipelines.append(_pipeline(token))
            continue
        flag, has_value, value = token.partition("=")
        flag = _flag(flag)
        if flag == "--dry-run":
            if has_value:
                raise _Invalid("`--dry-run` takes no value")
            dry_run = True
            continue
        if not has_value:
            value = next(rest, "")
        if not value or value.startswith("-"):
            raise _Invalid(f"`{flag}` needs a value, e.g. `{_example(flag)}`")
        if flag == "--steps":
            steps = tuple(_name(step, "step") for step in value.split(",") if step)
        else:
            environment = _name(value, "environment")
    _check_combination(name, pipelines, steps, environment, dry_run)
    return Command(name, tuple(dict.fromkeys(pipelines)), steps, environment, dry_run, line)


def _check_combination(
    name: CommandName, pipelines: list[str], steps: tuple[str, ...], environment: str | None, dry_run: bool
) -> None:
    if name is CommandName.HELP and (pipelines or steps or environment or dry_run):
        raise _Invalid("`help` takes no arguments")
    if not name.changes_cluster and (steps or dry_run):
        raise _Invalid(f"`{name}` takes no `--steps` or `--dry-run`")
    if name.needs_pipelines and not pipelines:
        raise _Invalid(f"`{name}` needs the pipelines to act on, e.g. `/kpops {name} word-count`")


def _command_name(token: str) -> CommandName:
    try:
        return CommandName(token.lower())
    except ValueError:
        raise _Invalid(f"unknown command {quoted(token)}.{_did_you_mean(token, list(CommandName))}") from None


def _flag(flag: str) -> str:
    flag = _FLAG_ALIASES.get(flag, flag)
    if flag not in _FLAGS:
        raise _Invalid(f"unknown option {quoted(flag)}.{_did_you_mean(flag, list(_FLAGS))}")
    return flag


def _pipeline(token: str) -> str:
    """A kpops pipeline name or a folder of the repository, never a way out of it."""
    parts = token.rstrip("/").split("/")
    if token.startswith("/") or ".." in parts or "." in parts or "" in parts or token.startswith("~"):
        raise _Invalid(f"{quoted(token)} is not a pipeline name or a folder inside the repository")
    for part in parts:
        if not _NAME.match(part):
            raise _Invalid(f"{quoted(token)} is not a pipeline name or a folder inside the repository")
    return token.rstrip("/")


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise _Invalid(f"{quoted(value)} is not a valid {what} name")
    return value


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.5)
    valid = ", ".join(f"`{choice}`" for choice in choices)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return f"{hint} Valid: {valid}."


def _example(flag: str) -> str:
    return {"--steps": "--steps word-count-app,word-count-producer", "--environment": "--environment dev"}[flag]
