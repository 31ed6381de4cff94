"""A policy gate's verdict on what a deploy or an apply acts on (`workflows/policy_gate.py` judges): plain values
that the answers (`report/policy_verdict.py`) word."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Denial:
    """One blocking finding of one policy rule in one pipeline, where the repository sets what it is about."""

    rule: str  # package.rule
    pipeline: str
    environment: str | None
    message: str  # as the report shows it: masked
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Cleared:
    """No policy denies: the deploy or apply goes on."""


@dataclass(frozen=True)
class Refused:
    """Policies deny: nothing is deployed or applied."""

    denials: tuple[Denial, ...]

    @property
    def summary(self) -> str:
        """One line for a commit status."""
        rules = sorted({denial.rule for denial in self.denials})
        return f"{len(self.denials)} denial(s) by {', '.join(rules)}"


@dataclass(frozen=True)
class Unjudged:
    """A policy could not be evaluated (syntax or runtime error, its limit): refused, naming the file."""

    reason: str

    @property
    def summary(self) -> str:
        return "a policy failed to evaluate"


Verdict = Cleared | Refused | Unjudged
