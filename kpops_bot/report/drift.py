"""Pure: the drift issue's title and body, and the body that closes it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from kpops_bot.drift import Drift, DriftKind
from kpops_bot.escape import cell_code, code, composed, defuse_markers, fenced, html_code, visible
from kpops_bot.text import shorten

_MARKER = "<!-- kpops-bot:drift {branch} -->"
_DIFF_CHARACTERS = 6_000
_DIFFS_SHOWN = 10
_WHAT = {
    DriftKind.CHANGED: "differs from the render",
    DriftKind.MISSING: "rendered, missing in the target",
    DriftKind.UNEXPECTED: "in the target, not rendered",
}


def marker(branch: str) -> str:
    """The hidden line that finds a branch's drift issue again."""
    # One line; `--` cannot end the comment, nor a `<details>` in the name count as a fold.
    return _MARKER.format(branch=defuse_markers(visible(branch)).replace("--", "-"))


def title(branch: str) -> str:
    return f"kpops-bot: the GitOps target drifted from {code(branch)}"


def unrendered(pipeline: str, environment: str | None, summary: str) -> str:
    """A pipeline that did not render, so was not compared: where, and why (`drifted` lists these)."""
    return f"{code(pipeline)} ({environment or 'default'}): {summary}"


def drifted(branch: str, commit: str, target: str, drifts: Sequence[Drift], unrendered: Sequence[str]) -> str:
    """The issue's body: every difference, the diffs of changed files (masked by the caller), what did not render."""
    rows = [f"| {cell_code(d.folder + '/' + (d.file or ''))} | {_WHAT[d.kind]} |" for d in drifts]
    lines = [
        marker(branch),
        f"The GitOps target {code(target)} no longer matches what {code(branch)} renders to (at {code(commit[:12])}).",
        "A hand edit, an apply that failed or a chart that floated can cause this. The next apply of a changed",
        "pipeline writes its folder again; this issue is updated on every check and closed when the drift is gone.",
        "",
        "| path | drift |",
        "| --- | --- |",
        *rows,
    ]
    changed = [d for d in drifts if d.kind is DriftKind.CHANGED][:_DIFFS_SHOWN]
    for drift in changed:
        lines += [
            "",
            f"<details><summary>{html_code(f'{drift.folder}/{drift.file}')}</summary>",
            "",
            *_diff(drift),
            "</details>",
        ]
    if unrendered:
        lines += ["", "Not compared, since they did not render:", *(f"- {composed(line)}" for line in unrendered)]
    return "\n".join(lines) + "\n"


def resolved(branch: str, commit: str, previous: str) -> str:
    """The body the issue is closed with: the drift is gone; what it was stays below."""
    kept = previous.removeprefix(marker(branch)).lstrip("\n")
    return (
        f"{marker(branch)}\n✅ The GitOps target matches {code(branch)} again (at {code(commit[:12])}).\n\n"
        f"<details><summary>The drift that was reported</summary>\n\n{kept}\n</details>\n"
    )


def _diff(drift: Drift) -> list[str]:
    text = "".join(
        difflib.unified_diff(
            (drift.expected or "").splitlines(keepends=True),
            (drift.actual or "").splitlines(keepends=True),
            fromfile="rendered",
            tofile="target",
        )
    )
    return [fenced(shorten(text, _DIFF_CHARACTERS), "diff")]
