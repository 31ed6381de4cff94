"""Pydantic validation errors in a person's words: where (a dotted path) and what, for every problem."""

from __future__ import annotations

from pydantic import ValidationError


def validation_issues(error: ValidationError) -> list[tuple[str, str]]:
    """(dotted path, message) per problem; the path is empty for the whole document."""
    return [(".".join(str(part) for part in issue["loc"]), issue["msg"]) for issue in error.errors()]


def describe_validation(error: ValidationError, whole: str) -> str:
    """`path: message; ...`, naming the whole document `whole` when a problem has no path."""
    return "; ".join(f"{path or whole}: {message}" for path, message in validation_issues(error))
