"""Pure: where the GitOps target differs from what the deploy branch renders to.

Compared are each pipeline folder's resource files (`<kind>-<name>.yaml`); a folder's `kustomization.yaml` (it
records the commit an apply rendered from, older than the branch's tip when later commits left the pipeline alone)
and its one-off `jobs/` are not. A folder of an environment that no pipeline renders to is drift too (a pipeline
removed without its folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

Folders = Mapping[str, Mapping[str, str]]  # folder → file name → content


class DriftKind(StrEnum):
    CHANGED = "changed"  # the file differs from the render (a hand edit, a failed apply, a chart that floated)
    MISSING = "missing"  # rendered, absent from the target
    UNEXPECTED = "unexpected"  # in the target, not rendered


@dataclass(frozen=True)
class Drift:
    folder: str
    file: str | None  # None: the whole folder
    kind: DriftKind
    expected: str | None = None
    actual: str | None = None


def compare(expected: Folders, actual: Folders) -> list[Drift]:
    """Every difference, ordered by folder and file."""
    drifts: list[Drift] = []
    for folder in sorted(set(expected) | set(actual)):
        if folder not in actual:
            drifts.append(Drift(folder, None, DriftKind.MISSING))
        elif folder not in expected:
            drifts.append(Drift(folder, None, DriftKind.UNEXPECTED))
        else:
            drifts += _files(folder, expected[folder], actual[folder])
    return drifts


def _files(folder: str, expected: Mapping[str, str], actual: Mapping[str, str]) -> list[Drift]:
    drifts: list[Drift] = []
    for name in sorted(set(expected) | set(actual)):
        want, have = expected.get(name), actual.get(name)
        if have is None:
            drifts.append(Drift(folder, name, DriftKind.MISSING, expected=want))
        elif want is None:
            drifts.append(Drift(folder, name, DriftKind.UNEXPECTED, actual=have))
        elif want != have:
            drifts.append(Drift(folder, name, DriftKind.CHANGED, expected=want, actual=have))
    return drifts
