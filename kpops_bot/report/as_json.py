"""The diff report for machines: the same content as the markdown, secrets already masked.

Indented for files a person may open (the Action's report, the golden file); compact where only a program reads
it (`kpops-bot diff --format json`): Python's C encoder runs only without `indent`, and the pure-Python one took
about a second for a report of 300 pipelines.
"""

from __future__ import annotations

import json

from kpops_bot.diff.model import DiffReport


def render_json(report: DiffReport, *, compact: bool = False) -> str:
    document = report.model_dump(mode="json", by_alias=True)
    if compact:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
