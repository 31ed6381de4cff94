"""GitHub's webhooks as GitHub publishes them (`testbed/github_webhooks.py`): every payload the bot is tested with
meets `@octokit/webhooks-schemas`, and every example of `@octokit/webhooks-examples` for the events the bot parses
(pull_request, issue_comment, push, ping; pull_request_review, which it ignores) goes through its parser to the
event it acts on or a reason it ignores it, never an error.

The package's own examples are older than its schema: GitHub added fields to its deliveries after they were
recorded (`ADDED_AFTER_THE_EXAMPLES`). Our parser reads them all; against the schema they may lack those fields and
nothing else, which `test_a_published_example_lacks_only_fields_github_added_after_it` holds them to.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kpops_bot.events.github import parse
from kpops_bot.events.model import CommentEvent, Ignored, PullRequestAction, PullRequestEvent, PushEvent
from kpops_bot.playground.fake_github import FakeGitHub, StoredPull
from kpops_bot.playground.hooks import issue_comment_payload, pull_request_payload
from testbed import deliveries
from testbed.github_openapi import OCTOKIT_WEBHOOKS_VERSION
from testbed.github_webhooks import EXAMPLES, PACKAGES, examples, problems

HANDLED = ("pull_request", "issue_comment", "push", "ping", "pull_request_review")
ACTED_ON = {
    "pull_request": {"opened", "reopened", "synchronize", "ready_for_review", "closed"},
    "issue_comment": {"created", "edited"},
}
# Fields the schema of the same release requires that GitHub's deliveries did not carry yet when the examples
# (and the published payloads in fixtures/webhooks/corpus/github/) were recorded, by the object that lacks them.
ADDED_AFTER_THE_EXAMPLES = {
    "repository": {"custom_properties", "is_template", "topics", "visibility", "web_commit_signoff_required"},
    "pull_request": {"active_lock_reason", "auto_merge", "draft"},
    "issue": {"active_lock_reason", "reactions"},
    "comment": {"performed_via_github_app", "reactions"},
    "label": {"description"},
    "hook": {"deliveries_url"},
}
SHA = "a" * 40
DECIDED = {  # what the bot makes of the test's pull request deliveries below ("": the fixture as it is)
    "": PullRequestAction.OPENED,
    "opened": PullRequestAction.OPENED,
    "synchronize": PullRequestAction.UPDATED,
    "reopened": PullRequestAction.REOPENED,
    "ready_for_review": PullRequestAction.READY,
    "merged": PullRequestAction.MERGED,
    "from a fork": PullRequestAction.OPENED,
}
CLONE = "https://github.com/acme/deployments.git"


def _published() -> list[tuple[str, int, dict[str, Any]]]:
    return examples(HANDLED) if EXAMPLES.is_file() else []  # test_the_packages_are_the_recorded_version says why


def _object_of(location: str) -> str:
    """The kind of object a schema location is in: `pull_request/base/repo` → repository."""
    last = [part for part in location.split("/") if not part.isdigit()][-1]
    return {"repo": "repository", "labels": "label", "(root)": "(root)"}.get(last, last)


def _missing_fields(found: list[str]) -> set[tuple[str, str]]:
    """(object kind, field) of each "is a required property" finding; anything else is returned whole."""
    missing = set()
    for finding in found:
        location, _, message = finding.partition(": ")
        field, _, rest = message.partition(" is a required property")
        missing.add((_object_of(location), field.strip("'")) if rest == "" and field else ("other", finding))
    return missing


def _known(missing: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(kind, field) for kind, field in missing if field in ADDED_AFTER_THE_EXAMPLES.get(kind, set())}


def test_the_packages_are_the_recorded_version() -> None:
    for package in ("webhooks-schemas", "webhooks-examples"):
        manifest = PACKAGES / package / "package.json"
        assert manifest.is_file(), f"{manifest} is missing: scripts/setup dev installs @octokit/{package}"
        assert json.loads(manifest.read_text(encoding="utf-8"))["version"] == OCTOKIT_WEBHOOKS_VERSION
    assert {name for name, _, _ in _published()} == set(HANDLED)


@pytest.mark.parametrize(("event", "index", "payload"), _published(), ids=lambda value: str(value)[:40])
def test_every_published_example_is_read_by_the_bot(event: str, index: int, payload: dict[str, Any]) -> None:
    read = parse(event, f"example-{index}", payload)
    action = payload.get("action")
    on_a_pull_request = event != "issue_comment" or "pull_request" in payload["issue"]
    if event == "push":
        assert isinstance(read, PushEvent), read
        assert (read.ref, read.after) == (payload["ref"], payload["after"])
    elif action in ACTED_ON.get(event, set()) and on_a_pull_request:
        assert isinstance(read, PullRequestEvent | CommentEvent), read
        assert read.repository.full_name == payload["repository"]["full_name"]
    else:
        assert isinstance(read, Ignored), read
        assert read.reason


@pytest.mark.parametrize(("event", "index", "payload"), _published(), ids=lambda value: str(value)[:40])
def test_a_published_example_lacks_only_fields_github_added_after_it(
    event: str, index: int, payload: dict[str, Any]
) -> None:
    missing = _missing_fields(problems(event, payload))
    assert missing == _known(missing), f"example {index} of {event}: {sorted(missing - _known(missing))}"


def test_every_field_excused_is_lacking_in_some_published_example() -> None:
    """The list above names no more than the examples need (it would otherwise hide a field our payloads lack)."""
    lacking = set().union(*(_known(_missing_fields(problems(e, p))) for e, _, p in _published()))
    corpus = [(f.event, json.loads(f.path.read_text())) for f in deliveries.corpus().values() if f.forge == "github"]
    lacking |= set().union(*(_known(_missing_fields(problems(e, p))) for e, p in corpus))
    assert lacking == {(kind, field) for kind, fields in ADDED_AFTER_THE_EXAMPLES.items() for field in fields}


@pytest.mark.parametrize("name", sorted(name for name, file in deliveries.corpus().items() if file.forge == "github"))
def test_a_published_payload_of_the_corpus_lacks_only_fields_github_added_after_it(name: str) -> None:
    published = deliveries.corpus()[name]
    missing = _missing_fields(problems(published.event, json.loads(published.path.read_text(encoding="utf-8"))))
    assert missing == _known(missing), sorted(missing - _known(missing))


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((deliveries.WEBHOOKS / f"github-{name}.json").read_text(encoding="utf-8"))
    return loaded


def _test_payloads() -> list[tuple[str, str, dict[str, Any]]]:
    """Every GitHub delivery the tests send or parse, but the published ones: the fixtures as they are and as
    testbed/deliveries.py points them at a test repository, and what the playground's fake GitHub sends."""
    pull: dict[str, Any] = {"number": 7, "full_name": "acme/deployments", "clone_url": CLONE, "head_sha": SHA}
    comment: dict[str, Any] = {"number": 7, "full_name": "acme/deployments", "clone_url": CLONE, "comment_id": 9}
    comment["body"] = "/kpops plan"
    push = {"full_name": "acme/deployments", "clone_url": CLONE, "branch": "main", "before": SHA, "after": "b" * 40}
    built = [
        *[("fixture", name, _fixture(name)) for name in ("pull_request", "issue_comment", "push")],
        *[
            ("deliveries", f"pull_request {action}", deliveries.github_pull_request(action, **pull))
            for action in ("opened", "synchronize", "reopened", "ready_for_review")
        ],
        ("deliveries", "pull_request merged", deliveries.github_pull_request("closed", **pull, merge_commit_sha=SHA)),
        ("deliveries", "pull_request from a fork", deliveries.github_pull_request("opened", **pull, fork="eve/d")),
        ("deliveries", "issue_comment", deliveries.github_comment(**comment, author="alice")),
        ("deliveries", "issue_comment edited", deliveries.github_comment(**comment, author="alice", edited=True)),
        ("deliveries", "issue_comment by a bot", deliveries.github_comment(**comment, author="kpops-bot[bot]")),
        ("deliveries", "push", deliveries.github_push(**push, message="merge")),
    ]
    return built + _playground_payloads()


def _playground_payloads() -> list[tuple[str, str, dict[str, Any]]]:
    fake = FakeGitHub()
    fake.origin = "http://127.0.0.1:8000"
    fake.add_repo("acme/deployments", Path("unused.git"))
    pull = fake.set_pull(StoredPull("acme/deployments", 1, "alice", "feature", SHA, labels=["kpops"], title="Scale"))
    comment = fake.add_comment("acme/deployments", 1, "alice", "/kpops plan")
    fake.comments[comment.id].reactions.append(("kpops-bot", "eyes"))
    merged = dataclasses.replace(pull, state="closed", merged=True, merge_commit_sha="c" * 40)
    return [
        ("playground", "pull_request opened", pull_request_payload(fake, "opened", pull, "alice")),
        (
            "playground",
            "pull_request synchronize",
            pull_request_payload(fake, "synchronize", pull, "alice", before="b" * 40),
        ),
        ("playground", "pull_request merged", pull_request_payload(fake, "closed", merged, "alice")),
        ("playground", "issue_comment", issue_comment_payload(fake, comment)),
    ]


@pytest.mark.parametrize(("source", "name", "payload"), _test_payloads(), ids=lambda value: str(value)[:40])
def test_every_payload_the_tests_deliver_meets_githubs_schema(source: str, name: str, payload: dict[str, Any]) -> None:
    event, _, case = name.partition(" ")
    assert problems(event, payload) == []
    read = parse(event, "test", payload)
    if isinstance(read, PullRequestEvent):
        assert (read.action, read.from_fork) == (DECIDED[case], case == "from a fork")
    elif isinstance(read, CommentEvent):
        expected = (case == "edited", case == "by a bot", payload["comment"]["body"])
        assert (read.edited, read.author_is_bot, read.body) == expected
    else:
        assert isinstance(read, PushEvent), read


def test_a_payload_lacking_a_field_github_always_sends_is_refused() -> None:
    """The check itself: a delivery without `pull_request.head.sha`, or with a number as a login, is named."""
    payload = _fixture("pull_request")
    del payload["pull_request"]["head"]["sha"]
    payload["sender"]["login"] = 7
    assert problems("pull_request", payload) == [
        "pull_request/head: 'sha' is a required property",
        "sender/login: 7 is not of type 'string'",
    ]
