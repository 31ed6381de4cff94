"""GitHub's webhooks as GitHub publishes them: the bot reads every example of `@octokit/webhooks-examples` for the
events it handles (pull_request, issue_comment, push; pull_request_review, which it ignores): the typed event for
what it acts on, a reason for what it ignores, never an error.

`scripts/setup dev` installs the package into `.tools/` (version below). Not asserted: validity under
`@octokit/webhooks-schemas` of the same version, which its own examples do not all meet (older examples lack the
`custom_properties` the schema's repository requires).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kpops_bot.events.github import parse
from kpops_bot.events.model import CommentEvent, Ignored, PullRequestEvent, PushEvent

ROOT = Path(__file__).resolve().parents[3]
OCTOKIT_WEBHOOKS_VERSION = "7.6.1"
PACKAGE = ROOT / ".tools" / "node_modules" / "@octokit" / "webhooks-examples"
EXAMPLES = PACKAGE / "api.github.com" / "index.json"
HANDLED = ("pull_request", "issue_comment", "push", "pull_request_review")
ACTED_ON = {
    "pull_request": {"opened", "reopened", "synchronize", "ready_for_review", "closed"},
    "issue_comment": {"created"},
}


def _examples() -> list[tuple[str, int, dict[str, Any]]]:
    if not EXAMPLES.is_file():
        return []  # test_the_package_is_the_recorded_version says what is missing
    published = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    return [
        (entry["name"], index, example)
        for entry in published
        if entry["name"] in HANDLED
        for index, example in enumerate(entry["examples"])
    ]


def test_the_package_is_the_recorded_version() -> None:
    manifest = PACKAGE / "package.json"
    assert manifest.is_file(), f"{manifest} is missing: scripts/setup dev installs @octokit/webhooks-examples"
    assert json.loads(manifest.read_text(encoding="utf-8"))["version"] == OCTOKIT_WEBHOOKS_VERSION
    assert {name for name, _, _ in _examples()} == set(HANDLED)


@pytest.mark.parametrize(("event", "index", "payload"), _examples(), ids=lambda value: str(value)[:40])
def test_every_published_example_is_read_by_the_bot(event: str, index: int, payload: dict[str, Any]) -> None:
    read = parse(event, f"example-{index}", payload)
    action = payload.get("action")
    on_a_pull_request = event != "issue_comment" or "pull_request" in payload["issue"]
    if event == "push":
        assert isinstance(read, PushEvent | Ignored)
    elif action in ACTED_ON.get(event, set()) and on_a_pull_request:
        assert isinstance(read, PullRequestEvent | CommentEvent), read
        assert read.repository.full_name == payload["repository"]["full_name"]
    else:
        assert isinstance(read, Ignored), read
        assert read.reason
