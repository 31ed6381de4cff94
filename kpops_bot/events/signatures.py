"""Webhook authenticity: GitHub's HMAC-SHA256 of the raw body, GitLab's shared token; both in constant time."""

from __future__ import annotations

import hashlib
import hmac


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256` matches the body signed with `secret`."""
    if not header:
        return False
    return hmac.compare_digest(github_signature(secret, body).encode(), header.encode())


def verify_gitlab(secret: str, header: str | None) -> bool:
    """`X-Gitlab-Token` equals `secret`."""
    if not header:
        return False
    return hmac.compare_digest(secret.encode(), header.encode())
