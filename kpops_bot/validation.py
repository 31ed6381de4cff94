"""Pydantic validation errors and YAML syntax errors in a person's words: where (a dotted path, a line) and what."""

from __future__ import annotations

import yaml
from pydantic import ValidationError


def validation_issues(error: ValidationError) -> list[tuple[str, str]]:
    """(dotted path, message) per problem; the path is empty for the whole document."""
    return [(".".join(str(part) for part in issue["loc"]), issue["msg"]) for issue in error.errors()]


def describe_validation(error: ValidationError, whole: str) -> str:
    """`path: message; ...`, naming the whole document `whole` when a problem has no path."""
    return "; ".join(f"{path or whole}: {message}" for path, message in validation_issues(error))


def yaml_problem(error: yaml.YAMLError) -> tuple[int | None, str]:
    """The line PyYAML stopped at (1-based, None when it has no mark) and the problem in one line, with the line
    where an unclosed bracket or block was opened."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return None, " ".join(str(error).split())
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    opened = error.context_mark.line + 1 if error.context_mark is not None else None
    context = f"{error.context} (opened at line {opened})" if error.context and opened != line else error.context
    return line, " ".join(part for part in (context, error.problem) if part)
