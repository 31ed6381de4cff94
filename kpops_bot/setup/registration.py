"""The forge registration data kept in `webhooks/`: the GitHub App manifest and the GitLab hook's events.

The folder sits at the top of the repository, where a forge admin looks; a wheel carries it inside the package as
`kpops_bot/_webhooks` (pyproject's force-include), while a source checkout reads it in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_PACKAGED = Path(__file__).resolve().parent.parent / "_webhooks"
_SOURCE = Path(__file__).resolve().parent.parent.parent / "webhooks"


def _load(name: str) -> dict[str, Any]:
    folder = _PACKAGED if _PACKAGED.is_dir() else _SOURCE
    loaded: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return loaded


def github_app_manifest(bot_url: str, redirect_url: str, name: str | None = None) -> dict[str, Any]:
    """The App manifest with this bot's webhook URL and the URL GitHub sends the admin back to."""
    manifest = _load("github-app.json")
    manifest["hook_attributes"] = {**manifest["hook_attributes"], "url": f"{bot_url.rstrip('/')}/webhooks/github"}
    manifest["redirect_url"] = redirect_url
    if name:
        manifest["name"] = name
    return manifest


def gitlab_hook_events() -> dict[str, bool]:
    """The project hook's event switches (`push_events`, `merge_requests_events`, ...)."""
    return {key: bool(value) for key, value in _load("gitlab-hook.json").items()}
