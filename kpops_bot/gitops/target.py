"""The GitOps target a publish writes to, and what a publish did: plain values, so that the workflows' ports name
them without loading git (`publish` does the writing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from kpops_bot.gitops.layout import JOBS_KEPT_FOR


@dataclass(frozen=True)
class Target:
    url: str
    branch: str
    git_env: dict[str, str]
    author_name: str
    author_email: str
    attempts: int = 5
    jobs_kept_for: timedelta = JOBS_KEPT_FOR


@dataclass(frozen=True)
class Published:
    commit: str | None  # None: the target had all of it already
    kept_newer: list[str]  # folders left alone: another apply rendered them from a newer commit
    removed_jobs: list[str] = field(default_factory=list)  # one-off Job files past their retention, removed
    # Per folder written: its resources added, changed and removed against what the target had (a resource is one
    # file, `<kind>-<name>.yaml`: the preview's identity of a resource). Folders left alone are not in it.
    changes: dict[str, ResourceChanges] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceChanges:
    """What a folder write did to the folder's resources (one-off Jobs and the kustomization aside)."""

    added: int = 0
    changed: int = 0
    removed: int = 0

    @staticmethod
    def between(before: Mapping[str, str], after: Mapping[str, str]) -> ResourceChanges:
        return ResourceChanges(
            added=len(after.keys() - before.keys()),
            changed=sum(before[name] != text for name, text in after.items() if name in before),
            removed=len(before.keys() - after.keys()),
        )
