"""Create or update a GitLab project's webhook to the bot, with the events in `webhooks/gitlab-hook.json`.

One hook per bot URL: running it again updates the hook it made (events, secret, SSL verification) instead of
adding a second one, so every delivery reaches the bot once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import gitlab
import requests
from gitlab.v4.objects import Project, ProjectHook

from kpops_bot.setup.reach import unreachable_cause
from kpops_bot.setup.registration import gitlab_hook_events


class HookError(Exception):
    """The hook could not be written; the message says what the admin can do."""


class HookChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"


@dataclass(frozen=True)
class HookOutcome:
    change: HookChange
    hook_id: int
    url: str


def hook_url(bot_url: str) -> str:
    return f"{bot_url.rstrip('/')}/webhooks/gitlab"


def ensure_hook(project: Project, bot_url: str, secret: str) -> HookOutcome:
    url = hook_url(bot_url)
    attributes: dict[str, object] = {"url": url, "token": secret, **gitlab_hook_events()}
    try:
        existing = next((hook for hook in project.hooks.list(iterator=True) if hook.url == url), None)
        if existing is None:
            created: ProjectHook = project.hooks.create(attributes)
            return HookOutcome(HookChange.CREATED, int(created.id), url)
        for name, value in attributes.items():
            setattr(existing, name, value)
        existing.save()
        return HookOutcome(HookChange.UPDATED, int(existing.id), url)
    except requests.RequestException as error:
        msg = f"cannot reach GitLab at {project.manager.gitlab.url}: {unreachable_cause(error)}"
        raise HookError(msg) from error
    except gitlab.exceptions.GitlabAuthenticationError as error:
        msg = "GitLab refused the token: set KPOPS_BOT_GITLAB__TOKEN (or gitlab.token) to a valid token"
        raise HookError(msg) from error
    except gitlab.exceptions.GitlabError as error:
        if error.response_code == 403:
            msg = f"the token may not manage hooks of project {project.get_id()}: it needs the Maintainer role"
            raise HookError(msg) from error
        msg = f"GitLab answered {error.response_code}: {error.error_message}"
        raise HookError(msg) from error
