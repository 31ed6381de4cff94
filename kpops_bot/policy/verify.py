"""`kpops-bot policy test DIR`: the folder's `test_` rules, as `conftest verify` runs them.

A test passes when its rule is true; false or undefined (a body that does not hold) fails it. The tests see the
folder's data files, as the policies do. A test's `with input as` is evaluated by giving the test that input
(`with_input`): rego-cpp 1.5.2's own `with` crashes over a rule that calls a built-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kpops_bot.model.policy import EvaluatorCrashedError, Limits, PolicyModule, PolicySet
from kpops_bot.policy.evaluate import run_inputs, run_queries
from kpops_bot.policy.with_input import rewrite


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
    rewritten, inputs = _without_with_input(policies)
    try:
        helpers = run_queries(rewritten, list(inputs.values()), limits) if inputs else []
        given = dict(zip(inputs, helpers, strict=True))
        plain = [name for name in names if name not in inputs]
        asked: list[tuple[Any, list[str]]] = [({}, plain)] if plain else []
        asked += [(given[name], [name]) for name in names if name in inputs and given[name] is not None]
        answers = {
            name: answer
            for (_, queries), row in zip(asked, run_inputs(rewritten, asked, limits), strict=True)
            for name, answer in zip(queries, row, strict=True)
        }
    except EvaluatorCrashedError as error:
        raise EvaluatorCrashedError(
            f"{error}; rego-cpp fails on some `with input as` over a rule that calls a built-in: give one test a "
            "single input term, or make the rule a function of the document and call it from the test"
        ) from error
    # a test whose input is undefined fails, as `with input as` an undefined term does
    return [TestResult(name, answers.get(name) is True) for name in names]


def _without_with_input(policies: PolicySet) -> tuple[PolicySet, dict[str, str]]:
    """The policies with each test's `with input as` turned into a helper rule; test query → its helper's query."""
    modules: list[PolicyModule] = []
    inputs: dict[str, str] = {}
    for module in policies.modules:
        text, tests = rewrite(module.text) if module.package else (module.text, [])
        modules.append(PolicyModule(module.path, text))
        inputs |= {f"data.{module.package}.{test.test}": f"data.{module.package}.{test.helper}" for test in tests}
    return PolicySet(policies.origin, tuple(modules), policies.data), inputs
