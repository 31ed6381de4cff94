"""Which job, if any, an event makes: pure, so every rule is tested with plain data."""

from __future__ import annotations

from kpops_bot.events.codec import dump_event
from kpops_bot.events.model import CommentEvent, Event, Ignored, PullRequestAction, PullRequestEvent, PushEvent
from kpops_bot.settings import BotSettings
from kpops_bot.store import NewJob

PREVIEW = "preview"
CLOSE = "close"

_PREVIEW_ACTIONS = {
    PullRequestAction.OPENED,
    PullRequestAction.REOPENED,
    PullRequestAction.UPDATED,
    PullRequestAction.READY,
}


def pull_request_key(event: PullRequestEvent | CommentEvent) -> str:
    """Work for one pull request runs one job at a time."""
    return f"{event.repository.forge.value}:{event.repository.full_name}#{event.number}"


def job_for(event: Event, settings: BotSettings) -> NewJob | Ignored:
    repository = event.repository
    if not settings.serves(repository.forge, repository.full_name):
        return Ignored(f"repository {repository.full_name} is not in this bot's allowlist")
    if isinstance(event, PullRequestEvent):
        return _pull_request_job(event)
    if isinstance(event, CommentEvent):
        return Ignored("comment commands are not enabled on this bot")
    assert isinstance(event, PushEvent)
    return Ignored("pushes are not applied by this bot")


def _pull_request_job(event: PullRequestEvent) -> NewJob | Ignored:
    payload = dump_event(event)
    key = pull_request_key(event)
    if event.action in _PREVIEW_ACTIONS:
        # A newer head makes a queued preview pointless, and so does a queued "closed".
        return NewJob(key, PREVIEW, payload, head_sha=event.head_sha, supersedes=(PREVIEW,))
    if event.action is PullRequestAction.CLOSED:
        return NewJob(key, CLOSE, payload, head_sha=event.head_sha, supersedes=(PREVIEW,))
    return Ignored("merged pull requests are not applied by this bot")
