"""Realistic webhook deliveries (the recorded fixtures, pointed at a test repository) and how to send them."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from kpops_bot.events.signatures import github_signature
from testbed.repos import FIXTURES

WEBHOOKS = FIXTURES / "webhooks"
CORPUS = WEBHOOKS / "corpus"  # published examples, see its ORIGINS.md


@dataclass(frozen=True)
class CorpusFile:
    """A published payload: `<event>[--<variant>].json` under a folder named for its forge and version."""

    forge: str  # "github" or "gitlab": the webhook endpoint
    event: str  # the event header's value: `X-GitHub-Event`, or `X-Gitlab-Event` written in snake case in the name
    path: Path


def corpus() -> dict[str, CorpusFile]:
    """Every corpus file by its path under `CORPUS`."""
    return {str(path.relative_to(CORPUS)): _corpus_file(path) for path in sorted(CORPUS.rglob("*.json"))}


def _corpus_file(path: Path) -> CorpusFile:
    event = path.stem.split("--")[0]
    if path.parent.name.startswith("gitlab"):
        return CorpusFile("gitlab", event.replace("_", " ").title(), path)
    return CorpusFile("github", event, path)


@cache
def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / f"{name}.json").read_text())
    return data


def github_pull_request(
    action: str,
    *,
    number: int,
    full_name: str,
    clone_url: str,
    head_sha: str,
    base_ref: str = "main",
    head_ref: str = "feature",
    author: str = "alice",
    fork: str | None = None,
    merge_commit_sha: str | None = None,
) -> dict[str, Any]:
    """`merge_commit_sha` makes it the delivery of a merge (`closed` with `merged: true`)."""
    payload = copy.deepcopy(_fixture("github-pull_request"))
    payload["action"] = action
    payload["number"] = number
    payload["repository"].update(full_name=full_name, clone_url=clone_url, name=full_name.split("/")[1])
    pull = payload["pull_request"]
    pull.update(number=number, merged=merge_commit_sha is not None, merge_commit_sha=merge_commit_sha)
    pull["user"]["login"] = author
    pull["base"].update(ref=base_ref)
    pull["base"]["repo"].update(full_name=full_name, clone_url=clone_url)
    pull["head"].update(ref=head_ref, sha=head_sha)
    pull["head"]["repo"].update(full_name=fork or full_name, clone_url=clone_url)
    if action == "closed":
        closed = pull["updated_at"]
        pull.update(state="closed", closed_at=closed, merged_at=closed if merge_commit_sha else None)
    if action == "synchronize":  # the heads before and after the push (the one before: the base's, a stand-in)
        payload.update(before=pull["base"]["sha"], after=head_sha)
    return payload


def gitlab_merge_request(
    action: str,
    *,
    iid: int,
    project_id: int,
    path: str,
    clone_url: str,
    head_sha: str,
    base_ref: str = "main",
    head_ref: str = "feature",
    author: str = "alice",
    fork_project_id: int | None = None,
    oldrev: str | None = None,
    merge_commit_sha: str | None = None,
) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("gitlab-merge_request"))
    payload["user"]["username"] = author
    payload["project"].update(id=project_id, path_with_namespace=path, git_http_url=clone_url)
    attributes = payload["object_attributes"]
    attributes.update(
        action=action,
        iid=iid,
        target_branch=base_ref,
        source_branch=head_ref,
        target_project_id=project_id,
        source_project_id=fork_project_id or project_id,
    )
    attributes["last_commit"]["id"] = head_sha
    attributes["merge_commit_sha"] = merge_commit_sha
    attributes["source"]["git_http_url"] = clone_url
    attributes.pop("oldrev", None)
    if oldrev is not None:
        attributes["oldrev"] = oldrev
    return payload


def github_comment(
    *, number: int, full_name: str, clone_url: str, comment_id: int, author: str, body: str, edited: bool = False
) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("github-issue_comment"))
    payload["action"] = "edited" if edited else "created"
    payload["repository"].update(full_name=full_name, clone_url=clone_url, name=full_name.split("/")[1])
    payload["issue"]["number"] = number
    payload["comment"].update(id=comment_id, body=body)
    payload["comment"]["user"].update(login=author, type="Bot" if author.endswith("[bot]") else "User")
    if edited:  # what the edit changed
        payload["changes"] = {"body": {"from": "(the comment before the edit)"}}
    return payload


def gitlab_note(
    *,
    iid: int,
    project_id: int,
    path: str,
    clone_url: str,
    note_id: int,
    author: str,
    body: str,
    edited: bool = False,
    head_sha: str | None = None,
) -> dict[str, Any]:
    """`head_sha`: the merge request's head the note names (`merge_request.last_commit`); None: none named."""
    payload = copy.deepcopy(_fixture("gitlab-note"))
    payload["user"]["username"] = author
    payload["project"].update(id=project_id, path_with_namespace=path, git_http_url=clone_url)
    payload["object_attributes"].update(id=note_id, note=body, action="update" if edited else "create")
    payload["merge_request"]["iid"] = iid
    if head_sha is None:
        del payload["merge_request"]["last_commit"]
    else:
        payload["merge_request"]["last_commit"]["id"] = head_sha
    return payload


def github_push(
    *, full_name: str, clone_url: str, branch: str, before: str, after: str, message: str
) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("github-push"))
    payload["repository"].update(full_name=full_name, clone_url=clone_url, name=full_name.split("/")[1])
    payload.update(ref=f"refs/heads/{branch}", before=before, after=after, deleted=False)
    payload["head_commit"].update(id=after, message=message)
    return payload


def gitlab_push(
    *, project_id: int, path: str, clone_url: str, branch: str, before: str, after: str, message: str
) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("gitlab-push"))
    payload["project"].update(id=project_id, path_with_namespace=path, git_http_url=clone_url)
    payload.update(ref=f"refs/heads/{branch}", before=before, after=after, checkout_sha=after)
    payload["commits"] = [{"id": after, "message": message, "added": [], "modified": [], "removed": []}]
    return payload


def send_github(
    url: str, secret: str | None, event: str, payload: dict[str, Any], delivery: str | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = github_signature(secret, body)
    return httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=30)


def send_gitlab(
    url: str, secret: str | None, event: str, payload: dict[str, Any], delivery: str | None = None
) -> httpx.Response:
    headers = {
        "X-Gitlab-Event": event,
        "Idempotency-Key": delivery or str(uuid.uuid4()),
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if secret is not None:
        headers["X-Gitlab-Token"] = secret
    return httpx.post(f"{url}/webhooks/gitlab", content=json.dumps(payload).encode(), headers=headers, timeout=30)
