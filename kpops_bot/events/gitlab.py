"""GitLab deliveries (`X-Gitlab-Event`, JSON body) → events.

Each field the bot uses is read from every place a GitLab version since 8.5 puts it (the published examples of
each version are in `fixtures/webhooks/corpus/`), and only those fields are required:

- the project: `project` (8.5 on); merge request hooks of 8.x have none, their project is `object_attributes.target`;
- the project's numeric id: `project.id`, else the top-level `project_id` (note and push hooks before it had
  `project.id`), else the merge request's `target_project_id`; optional, as the API also takes the project's path;
- who acted: `user.username` (merge request and note hooks of every version); push hooks name no login before
  `user_username` and the bot reads none from them.
"""

from __future__ import annotations

from typing import Any

from kpops_bot.events.model import (
    CommentEvent,
    Event,
    Forge,
    Ignored,
    Payload,
    PullRequestAction,
    PullRequestEvent,
    PushEvent,
    Repository,
)

_MERGE_REQUEST_ACTIONS = {
    "open": PullRequestAction.OPENED,
    "reopen": PullRequestAction.REOPENED,
    "close": PullRequestAction.CLOSED,
    "merge": PullRequestAction.MERGED,
}


def parse(event: str, delivery: str, body: Any) -> Event | Ignored:
    payload = Payload(body)
    if event == "Merge Request Hook":
        return _merge_request(delivery, payload)
    if event == "Note Hook":
        return _note(delivery, payload)
    if event == "Push Hook":
        return _push(delivery, payload)
    return Ignored(f"event {event!r} is not handled")


def _repository(payload: Payload) -> Repository:
    project = _project(payload)
    return Repository(Forge.GITLAB, project.text("path_with_namespace"), project_id=_project_id(payload, project))


def _project(payload: Payload) -> Payload:
    project = payload.optional_section("project")
    if project is not None:
        return project
    attributes = payload.optional_section("object_attributes")
    if attributes is not None and attributes.has("target"):
        return attributes.section("target")
    return payload.section("project")  # neither: the error names the field every other version sends


def _project_id(payload: Payload, project: Payload) -> int | None:
    attributes = payload.optional_section("object_attributes")
    places = [(project, "id"), (payload, "project_id"), *([(attributes, "target_project_id")] if attributes else [])]
    return next((found for section, key in places if (found := section.optional_number(key)) is not None), None)


def _merge_request(delivery: str, payload: Payload) -> PullRequestEvent | Ignored:
    attributes = payload.section("object_attributes")
    name = attributes.optional_text("action") or ""
    if name == "update":
        if not attributes.has("oldrev"):
            return Ignored("merge request updated without new commits")
        action = PullRequestAction.UPDATED
    elif name in _MERGE_REQUEST_ACTIONS:
        action = _MERGE_REQUEST_ACTIONS[name]
    else:
        return Ignored(f"merge request action {name!r} is not handled")
    return PullRequestEvent(
        delivery=delivery,
        repository=_repository(payload),
        number=attributes.number("iid"),
        action=action,
        base_ref=attributes.text("target_branch"),
        head_sha=attributes.section("last_commit").text("id"),
        from_fork=attributes.number("source_project_id") != attributes.number("target_project_id"),
        merge_commit_sha=attributes.optional_text("merge_commit_sha") if action is PullRequestAction.MERGED else None,
        author=_author(payload, attributes),
        labels=_labels(payload, attributes),
    )


def _author(payload: Payload, attributes: Payload) -> str | None:
    """The merge request's author: the hook names its author by id only, and who acted by name; the same id
    names the author. Otherwise None (the forge is asked)."""
    user = payload.optional_section("user")
    author_id = attributes.optional_number("author_id")
    if user is None or author_id is None or user.optional_number("id") != author_id:
        return None
    return user.optional_text("username")


def _labels(payload: Payload, attributes: Payload) -> tuple[str, ...] | None:
    """The merge request's labels: `labels` (GitLab 10 on), else `object_attributes.labels`; GitLab 8 sends none."""
    found = payload.names("labels", "title")
    return found if found is not None else attributes.names("labels", "title")


def _note(delivery: str, payload: Payload) -> CommentEvent | Ignored:
    attributes = payload.section("object_attributes")
    if attributes.optional_text("noteable_type") != "MergeRequest":
        return Ignored("comment not on a merge request")
    if attributes.flag("system"):
        return Ignored("system note")
    merge_request = payload.section("merge_request")
    last_commit = merge_request.optional_section("last_commit")  # the head the commenter saw; older hooks lack it
    return CommentEvent(
        delivery=delivery,
        repository=_repository(payload),
        number=merge_request.number("iid"),
        comment_id=attributes.number("id"),
        author=payload.section("user").text("username"),
        body=attributes.text("note"),
        # Older GitLab sends notes on creation only, without an action.
        edited=attributes.optional_text("action") == "update",
        author_is_bot=False,  # GitLab's hook does not say; the workflow compares with the bot's own user
        head_sha=last_commit.optional_text("id") if last_commit else None,
    )


def _push(delivery: str, payload: Payload) -> PushEvent:
    after = payload.text("after")
    return PushEvent(
        delivery=delivery,
        repository=_repository(payload),
        ref=payload.text("ref"),
        before=payload.text("before"),
        after=after,
        deleted=set(after) == {"0"},
    )
