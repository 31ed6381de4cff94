"""`/kpops <command> [pipeline ...] [--steps a,b] [--environment E] [--dry-run]` lines of a comment → commands.

Pure: nothing here reads the repository. Pipeline names are only checked for shape (no paths that leave the
repository, no shell syntax); whether they exist is decided against the revision the command acts on.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "/kpops"
MAX_COMMENT_CHARS = 10_000
MAX_COMMANDS = 5
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9._/,=-]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class CommandName(StrEnum):
    HELP = "help"
    DIFF = "diff"
    DEPLOY = "deploy"
    DESTROY = "destroy"
    RESET = "reset"
    CLEAN = "clean"
    UNLOCK = "unlock"

    @property
    def changes_cluster(self) -> bool:
        """Deploy, destroy, reset and clean act on what runs; they hold locks and honour --dry-run."""
        return self in _OPERATIONS

    @property
    def needs_pipelines(self) -> bool:
        """Destructive commands name their pipelines; deploy and diff default to what the pull request affects."""
        return self in (CommandName.DESTROY, CommandName.RESET, CommandName.CLEAN)


_OPERATIONS = (CommandName.DEPLOY, CommandName.DESTROY, CommandName.RESET, CommandName.CLEAN)
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
    """Lines of the comment addressed to the bot, outside fenced code blocks (examples and quotes stay inert)."""
    lines: list[str] = []
    fenced = False
    for raw in body.splitlines():
        if _FENCE.match(raw):
            fenced = not fenced
            continue
        line = raw.strip()
        if not fenced and (line == PREFIX or line.startswith(PREFIX + " ")):
            lines.append(line)
    return lines


def addresses_bot(body: str) -> bool:
    return bool(command_lines(body[: MAX_COMMENT_CHARS * 10]))


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
            raise _Invalid(f"`{_shown(token)}` contains characters commands never use: `{_shown(bad)}`")
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
        raise _Invalid(f"unknown command `{_shown(token)}`.{_did_you_mean(token, list(CommandName))}") from None


def _flag(flag: str) -> str:
    flag = _FLAG_ALIASES.get(flag, flag)
    if flag not in _FLAGS:
        raise _Invalid(f"unknown option `{_shown(flag)}`.{_did_you_mean(flag, list(_FLAGS))}")
    return flag


def _pipeline(token: str) -> str:
    """A kpops pipeline name or a folder of the repository, never a way out of it."""
    parts = token.rstrip("/").split("/")
    if token.startswith("/") or ".." in parts or "." in parts or "" in parts or token.startswith("~"):
        raise _Invalid(f"`{_shown(token)}` is not a pipeline name or a folder inside the repository")
    for part in parts:
        if not _NAME.match(part):
            raise _Invalid(f"`{_shown(token)}` is not a pipeline name or a folder inside the repository")
    return token.rstrip("/")


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise _Invalid(f"`{_shown(value)}` is not a valid {what} name")
    return value


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.5)
    valid = ", ".join(f"`{choice}`" for choice in choices)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return f"{hint} Valid: {valid}."


def _example(flag: str) -> str:
    return {"--steps": "--steps word-count-app,word-count-producer", "--environment": "--environment dev"}[flag]


def _shown(text: str) -> str:
    """A user's text quoted back in an inline code span: short, and unable to close the span."""
    text = text.replace("`", "'")
    return text if len(text) <= 60 else text[:57] + "..."
