"""Where a repository lives, from the bot's configuration alone. Pure.

A delivery names its repository's clone URL, but the bot never uses it: the URL is built from the configured forge
(`github.api_url` → its web host, `gitlab.url`) and the repository's full name, so a delivery cannot make the bot
clone, report on or push to another repository. Credentials are scoped to that host (`forge_prefix`).
"""

from __future__ import annotations

from dataclasses import replace

from kpops_bot.events.model import Event, Forge
from kpops_bot.settings import BotSettings

GITHUB_API = "https://api.github.com"


def github_web_url(api_url: str) -> str:
    """github.com for its API; an Enterprise server's address for `https://HOST/api/v3`."""
    api_url = api_url.rstrip("/")
    if api_url == GITHUB_API:
        return "https://github.com"
    return api_url.removesuffix("/api/v3")


def forge_prefix(forge: Forge, settings: BotSettings) -> str:
    """The web and git address of the configured forge, ending in `/`."""
    base = github_web_url(settings.github.api_url) if forge is Forge.GITHUB else settings.gitlab.url.rstrip("/")
    return base + "/"


def clone_url(forge: Forge, settings: BotSettings, full_name: str) -> str:
    return f"{forge_prefix(forge, settings)}{full_name}.git"


def with_configured_clone_url(event: Event, settings: BotSettings) -> Event:
    """The event, its repository's clone URL replaced by the configured one."""
    repository = event.repository
    url = clone_url(repository.forge, settings, repository.full_name)
    return replace(event, repository=replace(repository, clone_url=url))
