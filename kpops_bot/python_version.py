"""The oldest Python the bot runs on, checked when it starts.

Checkouts rely on tarfile's extraction filters (PEP 706), which arrived in 3.11.4: on an older 3.11 (Debian 12
ships 3.11.2) every checkout would fail. `pyproject.toml` declares the same minimum for installers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

MINIMUM = (3, 11, 4)


def unsupported(version: Sequence[int]) -> str | None:
    """Why `version` cannot run the bot, or None when it can."""
    if tuple(version[:3]) >= MINIMUM:
        return None
    need = ".".join(map(str, MINIMUM))
    have = ".".join(map(str, version[:3]))
    return (
        f"kpops-bot needs Python {need} or newer (tarfile extraction filters); this is Python {have}. "
        "Install a newer Python (e.g. `uv python install 3.12`) and run the bot with it."
    )


def require_supported() -> None:
    """Stop with the reason when this interpreter is too old."""
    problem = unsupported(tuple(sys.version_info[:3]))
    if problem is not None:
        sys.exit(problem)
