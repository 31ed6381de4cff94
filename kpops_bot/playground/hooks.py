"""The webhooks the fake GitHub's repository sends: GitHub's deliveries for its pull requests and comments.

A delivery carries the same objects the REST API answers with (GitHub's webhook `pull_request` and `comment` are the
API's), so they are built from the fake's own JSON and signed as GitHub signs them (`X-Hub-Signature-256`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from kpops_bot.events.signatures import github_signature
from kpops_bot.playground.fake_github import FakeGitHub, StoredComment, StoredPull


@dataclass(frozen=True)
class GitHubHooks:
    """Sends a repository's events to the bot at `bot_url`, signed with the webhook secret."""

    fake: FakeGitHub
    bot_url: str
    secret: str

    def pull_request(self, action: str, pull: StoredPull, sender: str) -> httpx.Response:
        """`opened`, `synchronize`, `closed` (a merge when the pull request is merged) ..."""
        payload = {
            "action": action,
            "number": pull.number,
            "pull_request": self.fake._pull_json(pull),
            "repository": self._repository(pull.repo),
            "sender": self.fake._user_json(sender),
        }
        return self._send("pull_request", payload)

    def issue_comment(self, comment: StoredComment) -> httpx.Response:
        """A new comment on a pull request (GitHub files them under the pull request's issue)."""
        issue_url = f"{self.fake.base_url}/repos/{comment.repo}/issues/{comment.number}"
        payload = {
            "action": "created",
            "issue": {
                "number": comment.number,
                "url": issue_url,
                "pull_request": {"url": f"{self.fake.base_url}/repos/{comment.repo}/pulls/{comment.number}"},
            },
            "comment": self.fake._comment_json(comment),
            "repository": self._repository(comment.repo),
            "sender": self.fake._user_json(comment.login),
        }
        return self._send("issue_comment", payload)

    def _repository(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/")
        return {
            "full_name": full_name,
            "name": name,
            "owner": {"login": owner},
            "private": True,
            "default_branch": "main",
            "url": f"{self.fake.base_url}/repos/{full_name}",
            "clone_url": f"{self.fake.origin}/{full_name}.git",
        }

    def _send(self, event: str, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(self.secret, body),
        }
        return httpx.post(f"{self.bot_url}/webhooks/github", content=body, headers=headers, timeout=30)
