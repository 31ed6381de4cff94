"""The webhooks the fake GitHub's repository sends: GitHub's deliveries for its pull requests and comments.

A delivery carries the same objects the REST API answers with (GitHub's webhook `pull_request` and `comment` are the
API's), so they are built from the fake's own JSON and signed as GitHub signs them (`X-Hub-Signature-256`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from kpops_bot.events.signatures import github_signature
from kpops_bot.playground.fake_github import FakeGitHub, StoredComment, StoredPull

_REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
# What a delivery's objects carry beyond the API's answers (`@octokit/webhooks-schemas` requires them).
_DELIVERED_PULL_FIELDS: dict[str, Any] = {"active_lock_reason": None, "requested_teams": [], "rebaseable": None}
_DELIVERED_ISSUE_FIELDS = {"active_lock_reason": None, "performed_via_github_app": None}


@dataclass(frozen=True)
class GitHubHooks:
    """Sends a repository's events to the bot at `bot_url`, signed with the webhook secret."""

    fake: FakeGitHub
    bot_url: str
    secret: str

    def pull_request(self, action: str, pull: StoredPull, sender: str, *, before: str = "") -> httpx.Response:
        """`opened`, `synchronize` (`before`: the head before the push), `closed` (a merge when it is merged) ..."""
        return self._send("pull_request", pull_request_payload(self.fake, action, pull, sender, before=before))

    def issue_comment(self, comment: StoredComment) -> httpx.Response:
        """A new comment on a pull request (GitHub files them under the pull request's issue)."""
        return self._send("issue_comment", issue_comment_payload(self.fake, comment))

    def _send(self, event: str, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(self.secret, body),
        }
        return httpx.post(f"{self.bot_url}/webhooks/github", content=body, headers=headers, timeout=30)


def pull_request_payload(
    fake: FakeGitHub, action: str, pull: StoredPull, sender: str, *, before: str = ""
) -> dict[str, Any]:
    """A `pull_request` delivery: the pull request as the API answers it, with the fields only deliveries carry;
    `before` (of `synchronize`): the head before the push."""
    return {
        "action": action,
        "number": pull.number,
        **({"before": before, "after": pull.head_sha} if before else {}),
        "pull_request": {**fake._pull_json(pull), **_DELIVERED_PULL_FIELDS},
        "repository": fake.json.repository(pull.repo),
        "sender": fake.json.user(sender),
    }


def issue_comment_payload(fake: FakeGitHub, comment: StoredComment) -> dict[str, Any]:
    """An `issue_comment` delivery of a new comment on a pull request: its issue links the pull request."""
    pull = fake.pulls.get((comment.repo, comment.number))
    issue = fake.json.issue(
        comment.repo,
        comment.number,
        login=pull.author if pull else comment.login,
        title=pull.title if pull else "",
        body=None,
        state=pull.state if pull else "open",
        comments=len(fake.pr_comments(comment.repo, comment.number)),
    )
    posted = fake._comment_json(comment)
    pull_url = f"{fake.base_url}/repos/{comment.repo}/pulls/{comment.number}"
    html = f"{fake.origin}/{comment.repo}/pull/{comment.number}"
    links = {"url": pull_url, "html_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch"}
    return {
        "action": "created",
        "issue": {
            **issue,
            **_DELIVERED_ISSUE_FIELDS,
            "reactions": _reactions(f"{issue['url']}/reactions"),
            "pull_request": {**links, "merged_at": None},
        },
        "comment": {
            **posted,
            "performed_via_github_app": None,
            "reactions": _reactions(f"{posted['url']}/reactions", comment.reactions),
        },
        "repository": fake.json.repository(comment.repo),
        "sender": fake.json.user(comment.login),
    }


def _reactions(url: str, given: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """A delivery's reaction counts of a comment or an issue."""
    counts = {name: sum(1 for _, content in given if content == name) for name in _REACTIONS}
    return {"url": url, **counts, "total_count": len(given)}
