"""Every route of the fake GitHub answers as GitHub's OpenAPI description says (`testbed/github_openapi.py`): the
bot's tests reach most of them through `running_github`; this walks each once, the App's routes, a second
reaction, a deleted comment and the refusals (401, 403, 404, 422) included, so none is left unchecked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from kpops_bot.playground.fake_github import FakeGitHub, ManifestCode, StoredPull
from testbed.github_openapi import Recorder
from testbed.repos import GitRepo
from tests.support.keys import app_key

REPO = "/repos/acme/deployments"
APP_ID = 4711


def _fake(tmp_path: Path) -> tuple[FakeGitHub, str]:
    repo = GitRepo(tmp_path / "work")
    repo.write(".kpops-bot.yaml", "environments: [dev]\n")
    head = repo.commit("first")
    fake = FakeGitHub(tokens={"alice-token": "alice", "app-token": "kpops-bot-app[bot]"})
    fake.origin = "http://testserver"  # the test client's: the answers' URLs are absolute, as GitHub's are
    fake.add_repo("acme/deployments", repo.bare_clone(tmp_path / "hosted.git"), {"alice": "maintain"})
    public = (
        app_key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    fake.enable_app(APP_ID, public.decode())
    fake.set_pull(StoredPull("acme/deployments", 1, "alice", "main", head, reviews=[("bob", "APPROVED", head)]))
    return fake, head


def _app_jwt() -> str:
    now = int(time.time())
    return jwt.encode({"iss": str(APP_ID), "iat": now - 60, "exp": now + 600}, app_key(), algorithm="RS256")


def test_every_route_answers_as_github_describes(tmp_path: Path) -> None:
    fake, head = _fake(tmp_path)
    recorder = Recorder(fake.asgi())
    asgi: Any = recorder  # an ASGI app, as Starlette's test client takes it
    user = TestClient(asgi, headers={"Authorization": "token alice-token"})
    app = TestClient(asgi, headers={"Authorization": "token app-token"})
    signed = TestClient(asgi, headers={"Authorization": f"Bearer {_app_jwt()}"})
    pem = app_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fake.expect_manifest(ManifestCode("code-1", APP_ID, "kpops-bot-app", pem.decode(), "hook-secret"))
    answers = [
        user.get("/user"),
        app.get("/user"),  # an installation token has no user: 403
        TestClient(asgi, headers={"Authorization": "token nobody"}).get(f"{REPO}/pulls"),  # 401
        signed.post("/app-manifests/code-1/conversions"),
        signed.get("/app"),
        signed.get("/app/installations"),
        signed.get(f"{REPO}/installation"),
        signed.post("/app/installations/1/access_tokens"),
        user.get(f"{REPO}/collaborators/alice/permission"),
        user.get(f"{REPO}/contents/.kpops-bot.yaml", params={"ref": head}),
        user.get(f"{REPO}/contents/missing.yaml", params={"ref": head}),  # 404
        user.post(f"{REPO}/issues", json={"title": "Drift", "body": "found"}),
        user.get(f"{REPO}/issues"),
        user.patch(f"{REPO}/issues/9001", json={"state": "closed"}),
        user.get(f"{REPO}/issues/9001"),
        user.post(f"{REPO}/issues/1/comments", json={"body": "/kpops plan"}),
        user.post(f"{REPO}/issues/1/comments", json={"body": "x" * 70_000}),  # 422
        user.get(f"{REPO}/issues/1/comments"),
        user.get(f"{REPO}/pulls"),
        user.get(f"{REPO}/pulls/1"),
        user.get(f"{REPO}/pulls/2"),  # 404
        user.get(f"{REPO}/pulls/1/reviews"),
        user.post(f"{REPO}/statuses/{head}", json={"state": "pending", "context": "kpops-bot", "description": "…"}),
        user.get(f"{REPO}/commits/{head}/statuses"),
        user.post(f"{REPO}/check-runs", json={"name": "kpops-bot", "head_sha": head}),  # a user may not: 403
        app.post(f"{REPO}/check-runs", json={"name": "kpops-bot", "head_sha": head, "status": "in_progress"}),
        app.get(f"{REPO}/commits/{head}/check-runs", params={"check_name": "kpops-bot"}),
    ]
    comment = answers[15].json()["id"]
    run = answers[-2].json()["id"]
    output = {"title": "kpops-bot", "summary": "1 change", "text": "details"}
    answers += [
        app.patch(f"{REPO}/check-runs/{run}", json={"status": "completed", "conclusion": "success", "output": output}),
        app.post(f"{REPO}/issues/comments/{comment}/reactions", json={"content": "eyes"}),
        app.post(f"{REPO}/issues/comments/{comment}/reactions", json={"content": "eyes"}),  # there already: 200
        app.get(f"{REPO}/issues/comments/{comment}/reactions"),
        user.get(f"{REPO}/issues/comments/{comment}"),
        user.patch(f"{REPO}/issues/comments/{comment}", json={"body": "/kpops plan word-count"}),
        user.delete(f"{REPO}/issues/comments/{comment}"),
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:18] == [200, 403, 401, 201, 200, 200, 200, 201, 200, 200, 404, 201, 200, 200, 200, 201, 422, 200]
    assert statuses[18:] == [200, 200, 404, 200, 201, 200, 403, 201, 200, 200, 201, 200, 200, 200, 200, 204]
    assert len(recorder.exchanges) == len(answers)
    assert recorder.exchanges[9].query == (("ref", head),)  # the URL's parameters are checked too
    assert recorder.problems() == []


def test_a_maintainer_is_write_in_the_legacy_field_and_maintain_in_role_name(tmp_path: Path) -> None:
    """GitHub's `permission` names only the base roles; the bot must read `role_name` (test_forges' carol)."""
    fake, _ = _fake(tmp_path)
    answer = TestClient(fake.asgi(), headers={"Authorization": "token alice-token"}).get(
        f"{REPO}/collaborators/alice/permission"
    )
    assert (answer.json()["permission"], answer.json()["role_name"]) == ("write", "maintain")
