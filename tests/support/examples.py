"""How many examples a property test draws (or how much of an exhaustive enumeration a test walks): its full count,
scaled by the Hypothesis profile that runs.

The counts in `@settings(max_examples=...)` are stated against Hypothesis's default of 100 examples. The `full`
profile keeps that default (CI and `scripts/test` with no lane run every example); the `unit` profile of
tests/conftest.py lowers it, and with it every count stated here, so the developer's loop stays quick while the full
suite still draws what the test asks for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from hypothesis import settings

T = TypeVar("T")

FULL_DEFAULT = 100  # Hypothesis's own default: the base the counts of the tests are stated against


def examples(full: int) -> int:
    """`full` under the full profile, the same share of it as the loaded profile has of the default otherwise."""
    return max(1, full * settings.default.max_examples // FULL_DEFAULT)


def share(cases: Sequence[T]) -> Sequence[T]:
    """Every case of an exhaustive enumeration under the full profile; under a lighter one, an evenly spaced share of
    them as large as `examples` makes a count (the first case always among them)."""
    step = max(1, len(cases) // examples(len(cases)))
    return cases[::step]
