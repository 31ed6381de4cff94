"""Policy sets, their findings and their failures: plain values, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# conftest's rule names: `deny`, `violation`, `warn`, each optionally with a `_suffix`.
RULE_NAME = re.compile(r"^(deny|violation|warn)(_[A-Za-z0-9_]+)?$")
_RULE_HEAD = re.compile(r"^\s*((?:deny|violation|warn|test)(?:_[A-Za-z0-9_]+)?)\b", re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z0-9_.]+)", re.MULTILINE)

MANIFEST_NAMESPACE = "main"  # conftest's default: one input per rendered manifest
PIPELINE_NAMESPACE = "kpops"  # the bot's own: one input per pipeline and environment
CHANGE_NAMESPACE = "kpops.change"  # one input for the whole change: every pipeline's document


class Severity(StrEnum):
    DENY = "deny"
    WARN = "warn"

    @classmethod
    def of(cls, rule: str) -> Severity:
        """A rule's severity by its name (`warn_...` warns; `deny`, `violation` deny), with or without package."""
        return cls.WARN if rule.rsplit(".", 1)[-1].startswith("warn") else cls.DENY


class PolicyRevision(StrEnum):
    """Where the repository's policy folder is read. A preview and `/kpops deploy` read it at the merge base (a pull
    request never weakens the rules that judge it); an apply at the commit it applies: the merged commit is the base
    branch's new state, whose policies took effect with the merge."""

    MERGE_BASE = "merge-base"
    HEAD = "head"


class PolicyError(Exception):
    """A policy that cannot be evaluated: never a silent pass. The message names the file."""


class EvaluatorCrashedError(PolicyError):
    """rego-cpp itself failed (a signal, no answer): known to happen with `with input as` over a rule that calls a
    built-in."""


@dataclass(frozen=True)
class PolicyModule:
    path: str  # as the reader knows it: relative to the repository, or the folder's own path
    text: str

    @property
    def package(self) -> str | None:
        found = _PACKAGE.search(self.text)
        return found.group(1) if found else None

    def rules(self, prefix: str = "") -> set[str]:
        """Names of conftest's rules (or, with prefix `test`, the tests) the module defines."""
        names = {match.group(1) for match in _RULE_HEAD.finditer(self.text)}
        if prefix:
            return {name for name in names if name == prefix or name.startswith(f"{prefix}_")}
        return {name for name in names if RULE_NAME.match(name)}


@dataclass(frozen=True)
class PolicySet:
    """The `.rego` modules of one folder and its data files (merged into `data`, as conftest does)."""

    origin: str  # what a message calls it: `policies/ at the base`, or the organisation's folder
    modules: tuple[PolicyModule, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def without_tests(self) -> PolicySet:
        """What judges a change: conftest's test files (`*_test.rego`) left out, so that a test rego-cpp cannot
        compile (see `EvaluatorCrashedError`) does not stop the rules."""
        modules = tuple(module for module in self.modules if not module.path.endswith("_test.rego"))
        return PolicySet(self.origin, modules, self.data)

    def queries(self, namespace: str) -> list[str]:
        """`data.<namespace>.<rule>` for every deny/violation/warn rule the namespace defines."""
        rules = {rule for module in self.modules if module.package == namespace for rule in module.rules()}
        return [f"data.{namespace}.{rule}" for rule in sorted(rules)]

    def tests(self) -> list[str]:
        return sorted(
            f"data.{module.package}.{rule}"
            for module in self.modules
            if module.package
            for rule in module.rules("test")
        )


@dataclass(frozen=True)
class Finding:
    """One message of one rule for one input."""

    namespace: str
    rule: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)  # the other keys of a `{msg, ...}` result

    @property
    def severity(self) -> Severity:
        return Severity.of(self.rule)


@dataclass(frozen=True)
class Limits:
    """Bounds of one evaluation's child process."""

    seconds: float = 20.0
    memory_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class PullRequestFacts:
    """What a pipeline-level policy may know of the pull request: nothing secret, nothing it could be tricked by."""

    number: int | None = None
    labels: tuple[str, ...] = ()
    author: str | None = None
    target_branch: str | None = None


@dataclass(frozen=True)
class PolicyOptions:
    """Where a dry run's policies come from and how far their evaluation may go."""

    repository_folder: str | None = "policies"  # in the deployment repository, read at the base revision
    folders: tuple[str, ...] = ()  # on the bot's disk: the organisation's rules (or `kpops-bot diff --policies`)
    limits: Limits = field(default_factory=Limits)
    pull_request: PullRequestFacts | None = None
