"""GitHub deliveries (`X-GitHub-Event`, JSON body) → events.

Only the fields the bot uses are required; the published examples it is tested against are in
`fixtures/webhooks/corpus/`. A fork's deleted repository (`head.repo: null`) and a deleted branch's missing
`head_commit` are shapes GitHub sends, not errors.
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

_PULL_REQUEST_ACTIONS = {
    "opened": PullRequestAction.OPENED,
    "reopened": PullRequestAction.REOPENED,
    "synchronize": PullRequestAction.UPDATED,
    "ready_for_review": PullRequestAction.READY,
}


def parse(event: str, delivery: str, body: Any) -> Event | Ignored:
    payload = Payload(body)
    if event == "pull_request":
        return _pull_request(delivery, payload)
    if event == "issue_comment":
        return _comment(delivery, payload)
    if event == "push":
        return _push(delivery, payload)
    if event == "ping":
        return Ignored("ping received")
    return Ignored(f"event {event!r} is not handled")


def _repository(payload: Payload) -> Repository:
    repository = payload.section("repository")
    return Repository(Forge.GITHUB, repository.text("full_name"))


def _pull_request(delivery: str, payload: Payload) -> PullRequestEvent | Ignored:
    name = payload.text("action")
    pull = payload.section("pull_request")
    if name == "closed":
        action = PullRequestAction.MERGED if pull.flag("merged") else PullRequestAction.CLOSED
    elif name in _PULL_REQUEST_ACTIONS:
        action = _PULL_REQUEST_ACTIONS[name]
    else:
        return Ignored(f"pull_request action {name!r} is not handled")
    repository = _repository(payload)
    head = pull.section("head")
    head_repo = head.optional_section("repo")  # null when the fork was deleted
    return PullRequestEvent(
        delivery=delivery,
        repository=repository,
        number=pull.number("number"),
        action=action,
        base_ref=pull.section("base").text("ref"),
        head_sha=head.text("sha"),
        from_fork=head_repo is None or head_repo.text("full_name") != repository.full_name,
        merge_commit_sha=pull.optional_text("merge_commit_sha") if action is PullRequestAction.MERGED else None,
        author=pull.section("user").text("login"),
        labels=pull.names("labels", "name") or (),  # every pull_request delivery lists them
    )


def _comment(delivery: str, payload: Payload) -> CommentEvent | Ignored:
    action = payload.text("action")
    if action not in ("created", "edited"):
        return Ignored(f"issue_comment action {action!r} is not handled")
    issue = payload.section("issue")
    if not issue.has("pull_request"):
        return Ignored("comment on an issue, not on a pull request")
    comment = payload.section("comment")
    user = comment.section("user")
    return CommentEvent(
        delivery=delivery,
        repository=_repository(payload),
        number=issue.number("number"),
        comment_id=comment.number("id"),
        author=user.text("login"),
        body=comment.text("body"),
        edited=action == "edited",
        author_is_bot=user.optional_text("type") == "Bot",
    )


def _push(delivery: str, payload: Payload) -> PushEvent:
    return PushEvent(
        delivery=delivery,
        repository=_repository(payload),
        ref=payload.text("ref"),
        before=payload.text("before"),
        after=payload.text("after"),
        deleted=payload.flag("deleted"),
    )
