"""Events to and from the JSON a queued job carries."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from kpops_bot.events.model import CommentEvent, Event, PullRequestEvent, PushEvent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "pull_request": TypeAdapter(PullRequestEvent),
    "comment": TypeAdapter(CommentEvent),
    "push": TypeAdapter(PushEvent),
}
_TYPES = {PullRequestEvent: "pull_request", CommentEvent: "comment", PushEvent: "push"}


def dump_event(event: Event) -> dict[str, Any]:
    name = _TYPES[type(event)]
    return {"type": name, "event": _ADAPTERS[name].dump_python(event, mode="json")}


def load_event(data: dict[str, Any]) -> Event:
    event: Event = _ADAPTERS[data["type"]].validate_python(data["event"])
    return event
