"""Webhook payloads (written from the forges' documented shapes, fixtures/webhooks/) → the bot's events."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from kpops_bot.events import github, gitlab
from kpops_bot.events.model import (
    CommentEvent,
    Forge,
    Ignored,
    MalformedEventError,
    PullRequestAction,
    PullRequestEvent,
    PushEvent,
)
from kpops_bot.events.signatures import github_signature, verify_github, verify_gitlab
from testbed.repos import FIXTURES

HEAD_SHA = "9f2c1e5b7a3d4c8e1f0a2b3c4d5e6f7a8b9c0d1e"


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "webhooks" / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)


def test_github_signature_matches_the_documented_test_vector() -> None:
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert github_signature("It's a Secret to Everybody", b"Hello, World!") == expected
    assert verify_github("It's a Secret to Everybody", b"Hello, World!", expected)
    assert not verify_github("It's a Secret to Everybody", b"Hello, World?", expected)
    assert not verify_github("another secret", b"Hello, World!", expected)
    assert not verify_github("It's a Secret to Everybody", b"Hello, World!", None)
    assert not verify_github("It's a Secret to Everybody", b"Hello, World!", expected.upper())


def test_gitlab_token() -> None:
    assert verify_gitlab("s3cret-token", "s3cret-token")
    assert not verify_gitlab("s3cret-token", "s3cret-tokem")
    assert not verify_gitlab("s3cret-token", "")
    assert not verify_gitlab("s3cret-token", None)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("opened", PullRequestAction.OPENED),
        ("reopened", PullRequestAction.REOPENED),
        ("synchronize", PullRequestAction.UPDATED),
        ("ready_for_review", PullRequestAction.READY),
    ],
)
def test_github_pull_request_actions(action: str, expected: PullRequestAction) -> None:
    body = payload("github-pull_request")
    body["action"] = action
    event = github.parse("pull_request", "d-1", body)
    assert isinstance(event, PullRequestEvent)
    assert event == PullRequestEvent(
        delivery="d-1",
        repository=event.repository,
        number=42,
        action=expected,
        base_ref="main",
        head_sha=HEAD_SHA,
        from_fork=False,
        author="octo-dev",
        labels=(),
    )
    assert (event.repository.forge, event.repository.full_name) == (Forge.GITHUB, "acme/kpops-deployments")


# What the policies know of a pull request (`input.pull_request`): the author and the labels, where a delivery says.


def _corpus(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "webhooks" / "corpus" / name).read_text(encoding="utf-8"))
    return loaded


def test_a_github_pull_request_names_its_author_and_labels() -> None:
    event = github.parse("pull_request", "d", _corpus("github/pull_request--synchronize.json"))
    assert isinstance(event, PullRequestEvent)
    assert (event.author, event.labels) == ("Codertocat", ("bug",))
    body = payload("github-pull_request")
    body["pull_request"]["labels"] = [{"id": 1, "name": "reviewed-by-platform"}, {"id": 2, "name": "prod"}]
    labelled = github.parse("pull_request", "d", body)
    assert isinstance(labelled, PullRequestEvent)
    assert (labelled.author, labelled.labels) == ("octo-dev", ("reviewed-by-platform", "prod"))


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("gitlab-8/merge_request_hook.json", None),  # GitLab 8 sends none: the forge is asked
        ("gitlab-10/merge_request_hook.json", ("API",)),
        ("gitlab-12/merge_request_hook.json", ("API",)),
        ("gitlab-18/merge_request_hook.json", ("API",)),
    ],
)
def test_a_gitlab_merge_request_names_its_labels_where_its_version_sends_them(
    name: str, labels: tuple[str, ...] | None
) -> None:
    event = gitlab.parse("Merge Request Hook", "d", _corpus(name))
    assert isinstance(event, PullRequestEvent)
    assert event.labels == labels
    assert event.author is None  # the author (id 51) is not who acted (id 1): the forge is asked


def test_a_gitlab_merge_request_names_its_author_when_the_author_acted() -> None:
    body = payload("gitlab-merge_request")
    event = gitlab.parse("Merge Request Hook", "d", body)
    assert isinstance(event, PullRequestEvent)
    assert (event.author, event.labels) == ("dana", ())
    body["object_attributes"]["author_id"] = 78  # someone else pushed
    body["labels"] = [{"id": 5, "title": "reviewed-by-platform"}]
    other = gitlab.parse("Merge Request Hook", "d", body)
    assert isinstance(other, PullRequestEvent)
    assert (other.author, other.labels) == (None, ("reviewed-by-platform",))


def test_github_closed_is_a_merge_only_when_merged() -> None:
    body = payload("github-pull_request")
    body["action"] = "closed"
    closed = github.parse("pull_request", "d", body)
    assert isinstance(closed, PullRequestEvent)
    assert closed.action is PullRequestAction.CLOSED
    assert closed.merge_commit_sha is None
    body["pull_request"] |= {"merged": True, "merge_commit_sha": "7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"}
    merged = github.parse("pull_request", "d", body)
    assert isinstance(merged, PullRequestEvent)
    assert merged.action is PullRequestAction.MERGED
    assert merged.merge_commit_sha == "7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"


def test_github_fork_pull_request_is_marked() -> None:
    body = payload("github-pull_request")
    body["pull_request"]["head"]["repo"] = body["pull_request"]["head"]["repo"] | {
        "full_name": "mallory/kpops-deployments",
        "clone_url": "https://github.com/mallory/kpops-deployments.git",
        "fork": True,
    }
    event = github.parse("pull_request", "d", body)
    assert isinstance(event, PullRequestEvent)
    assert event.from_fork
    body["pull_request"]["head"]["repo"] = None
    deleted_fork = github.parse("pull_request", "d", body)
    assert isinstance(deleted_fork, PullRequestEvent)
    assert deleted_fork.from_fork


def test_github_comments() -> None:
    event = github.parse("issue_comment", "d", payload("github-issue_comment"))
    assert isinstance(event, CommentEvent)
    assert (event.number, event.comment_id, event.author, event.body) == (
        42,
        2498765432,
        "octo-dev",
        "/kpops reset word-count",
    )
    assert not event.edited
    assert not event.author_is_bot
    body = payload("github-issue_comment")
    body["action"] = "edited"
    body["comment"]["user"]["type"] = "Bot"
    edited = github.parse("issue_comment", "d", body)
    assert isinstance(edited, CommentEvent)
    assert edited.edited
    assert edited.author_is_bot


def test_github_comment_on_a_plain_issue_and_other_events_are_ignored_with_a_reason() -> None:
    body = payload("github-issue_comment")
    del body["issue"]["pull_request"]
    assert github.parse("issue_comment", "d", body) == Ignored("comment on an issue, not on a pull request")
    body = payload("github-issue_comment")
    body["action"] = "deleted"
    assert github.parse("issue_comment", "d", body) == Ignored("issue_comment action 'deleted' is not handled")
    body = payload("github-pull_request")
    body["action"] = "labeled"
    assert github.parse("pull_request", "d", body) == Ignored("pull_request action 'labeled' is not handled")
    assert github.parse("star", "d", {}) == Ignored("event 'star' is not handled")
    assert github.parse("ping", "d", {"zen": "Keep it logically awesome."}) == Ignored("ping received")


def test_github_push() -> None:
    event = github.parse("push", "d", payload("github-push"))
    assert isinstance(event, PushEvent)
    assert (event.branch, event.after, event.deleted) == ("main", "7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d", False)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda body: body.pop("pull_request"), "missing field pull_request"),
        (lambda body: body["pull_request"]["head"].pop("sha"), "field pull_request.head.sha must be a string"),
        (lambda body: body["pull_request"].update(number="42"), "field pull_request.number must be an integer"),
        (lambda body: body.update(repository=[]), "repository is not a JSON object"),
    ],
)
def test_malformed_github_payloads_name_the_field(edit: Any, message: str) -> None:
    body = payload("github-pull_request")
    edit(body)
    with pytest.raises(MalformedEventError, match=re.escape(message)):
        github.parse("pull_request", "d", body)
    with pytest.raises(MalformedEventError, match="the body is not a JSON object"):
        github.parse("pull_request", "d", [1, 2])


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("open", PullRequestAction.OPENED),
        ("reopen", PullRequestAction.REOPENED),
        ("close", PullRequestAction.CLOSED),
        ("merge", PullRequestAction.MERGED),
    ],
)
def test_gitlab_merge_request_actions(action: str, expected: PullRequestAction) -> None:
    body = payload("gitlab-merge_request")
    body["object_attributes"]["action"] = action
    event = gitlab.parse("Merge Request Hook", "key-1", body)
    assert isinstance(event, PullRequestEvent)
    assert event.action is expected
    assert (event.number, event.head_sha, event.base_ref) == (17, HEAD_SHA, "main")
    assert event.repository.full_name == "platform/streaming/kpops-deployments"
    assert event.repository.project_id == 4711
    assert not event.from_fork


def test_gitlab_update_counts_only_with_new_commits() -> None:
    body = payload("gitlab-merge_request")
    body["object_attributes"]["action"] = "update"
    assert gitlab.parse("Merge Request Hook", "k", body) == Ignored("merge request updated without new commits")
    body["object_attributes"]["oldrev"] = "3b1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b"
    event = gitlab.parse("Merge Request Hook", "k", body)
    assert isinstance(event, PullRequestEvent)
    assert event.action is PullRequestAction.UPDATED
    body["object_attributes"]["action"] = "approved"
    assert gitlab.parse("Merge Request Hook", "k", body) == Ignored("merge request action 'approved' is not handled")


def test_gitlab_fork_merge_request() -> None:
    body = payload("gitlab-merge_request")
    body["object_attributes"]["source_project_id"] = 5000
    event = gitlab.parse("Merge Request Hook", "k", body)
    assert isinstance(event, PullRequestEvent)
    assert event.from_fork


def test_gitlab_notes() -> None:
    event = gitlab.parse("Note Hook", "k", payload("gitlab-note"))
    assert isinstance(event, CommentEvent)
    assert (event.number, event.comment_id, event.author, event.body, event.edited) == (
        17,
        551234,
        "dana",
        "/kpops reset word-count",
        False,
    )
    assert event.head_sha == "9f2c1e5b7a3d4c8e1f0a2b3c4d5e6f7a8b9c0d1e"  # the head the commenter saw
    body = payload("gitlab-note")
    del body["merge_request"]["last_commit"]
    headless = gitlab.parse("Note Hook", "k", body)
    assert isinstance(headless, CommentEvent) and headless.head_sha is None  # bound when the job first runs
    body = payload("gitlab-note")
    body["object_attributes"]["action"] = "update"
    edited = gitlab.parse("Note Hook", "k", body)
    assert isinstance(edited, CommentEvent)
    assert edited.edited
    body = payload("gitlab-note")
    del body["object_attributes"]["action"]
    older = gitlab.parse("Note Hook", "k", body)
    assert isinstance(older, CommentEvent)
    assert not older.edited
    body = payload("gitlab-note")
    body["object_attributes"]["noteable_type"] = "Issue"
    assert gitlab.parse("Note Hook", "k", body) == Ignored("comment not on a merge request")
    body = payload("gitlab-note")
    body["object_attributes"]["system"] = True
    assert gitlab.parse("Note Hook", "k", body) == Ignored("system note")


def test_gitlab_push_and_branch_deletion() -> None:
    event = gitlab.parse("Push Hook", "k", payload("gitlab-push"))
    assert isinstance(event, PushEvent)
    assert (event.branch, event.deleted) == ("main", False)
    body = payload("gitlab-push")
    body["after"] = "0" * 40
    deleted = gitlab.parse("Push Hook", "k", body)
    assert isinstance(deleted, PushEvent)
    assert deleted.deleted
    assert gitlab.parse("Pipeline Hook", "k", {}) == Ignored("event 'Pipeline Hook' is not handled")


def test_malformed_gitlab_payload() -> None:
    body = payload("gitlab-merge_request")
    del body["object_attributes"]["last_commit"]
    with pytest.raises(MalformedEventError, match=re.escape("missing field object_attributes.last_commit")):
        gitlab.parse("Merge Request Hook", "k", body)


def test_a_gitlab_delivery_naming_no_project_anywhere_is_malformed() -> None:
    body = payload("gitlab-note")
    del body["project"]
    with pytest.raises(MalformedEventError, match="missing field project"):
        gitlab.parse("Note Hook", "k", body)
    body = payload("gitlab-merge_request")
    del body["project"]
    del body["object_attributes"]["target"]
    with pytest.raises(MalformedEventError, match="missing field project"):
        gitlab.parse("Merge Request Hook", "k", body)
