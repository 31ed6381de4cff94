"""Golden files: every text the bot posts is compared with its file in fixtures/golden/.

`KPOPS_BOT_UPDATE_GOLDEN=1` rewrites the files instead (review the diff before committing).
"""

from __future__ import annotations

import os

from testbed.repos import FIXTURES

GOLDEN = FIXTURES / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare with fixtures/golden/NAME; `KPOPS_BOT_UPDATE_GOLDEN=1` rewrites the file instead."""
    path = GOLDEN / name
    if os.environ.get("KPOPS_BOT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run the tests once with KPOPS_BOT_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8")
