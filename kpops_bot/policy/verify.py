"""`kpops-bot policy test DIR`: the folder's `test_` rules, as `conftest verify` runs them.

A test passes when its rule is true; false or undefined (a body that does not hold) fails it. The tests see the
folder's data files, as the policies do.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpops_bot.model.policy import EvaluatorCrashedError, Limits, PolicySet
from kpops_bot.policy.evaluate import run_queries


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class

    name: str  # data.<package>.test_...
    passed: bool


def verify(policies: PolicySet, limits: Limits) -> list[TestResult]:
    """Every test's result; raises PolicyError when a module cannot be evaluated."""
    names = policies.tests()
    if not names:
        return []
    try:
        answers = run_queries(policies, names, limits)
    except EvaluatorCrashedError as error:
        raise EvaluatorCrashedError(
            f"{error}; rego-cpp fails on `with input as` over a rule that calls a built-in: "
            "make the rule a function of the document and call it from the test"
        ) from error
    return [TestResult(name, answer is True) for name, answer in zip(names, answers, strict=True)]
