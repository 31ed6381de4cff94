"""The bot's version, from one source: `version` in pyproject.toml, as the installed distribution records it.

Read at run time through `importlib.metadata`, so a release changes one line and `--version`, `/healthz` and the
`kpops_bot_build_info` metric follow it. A checkout that was never installed (no metadata) says so instead.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "kpops-bot"
UNKNOWN = "0+unknown"


def bot_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that pip never installed
        return UNKNOWN
