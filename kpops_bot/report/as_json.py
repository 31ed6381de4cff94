"""The diff report for machines: the same content as the markdown, secrets already masked."""

from __future__ import annotations

import json

from kpops_bot.diff.model import DiffReport


def render_json(report: DiffReport) -> str:
    return json.dumps(report.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False) + "\n"
