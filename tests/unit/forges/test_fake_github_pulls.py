"""The fake GitHub opens a pull request through `POST /repos/{owner}/{repo}/pulls` as GitHub does (the playground's
walk-through in docs/getting-started.md does it with curl): its head is the branch's commit, its author the token's
login, its number the next one, and a request GitHub refuses gets GitHub's 422."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from kpops_bot.playground.fake_github import FakeGitHub
from testbed.github_openapi import Exchange, problems
from testbed.repos import GitRepo

PATH = "/repos/acme/deployments/pulls"


def _client(tmp_path: Path) -> tuple[TestClient, str]:
    repo = GitRepo(tmp_path / "work")
    repo.write("README.md", "deployments\n")
    repo.commit("first")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("README.md", "deployments, changed\n")
    head = repo.commit("change")
    repo.git("branch", "-q", "same", "main")
    fake = FakeGitHub(tokens={"alice-token": "alice"})
    fake.add_repo("acme/deployments", repo.bare_clone(tmp_path / "hosted.git"), {"alice": "write"})
    fake.origin = "http://testserver"  # the test client's: the answers' URLs are absolute, as GitHub's are
    return TestClient(fake.asgi(), headers={"Authorization": "token alice-token"}), head


def test_a_pull_request_opened_through_the_api_is_listed_with_its_branch_head(tmp_path: Path) -> None:
    client, head = _client(tmp_path)
    request = {"title": "A change", "head": "feature", "base": "main"}
    opened = client.post(PATH, json=request)
    assert opened.status_code == 201
    pull = opened.json()
    assert (pull["number"], pull["user"]["login"], pull["head"]["sha"], pull["head"]["ref"]) == (
        1,
        "alice",
        head,
        "feature",
    )
    assert pull["base"]["ref"] == "main" and pull["state"] == "open"
    assert problems(Exchange("POST", PATH, request, 201, pull)) == []
    listed = client.get(PATH).json()
    assert problems(Exchange("GET", PATH, None, 200, listed)) == []
    assert listed == [{key: value for key, value in pull.items() if key in listed[0]}]
    assert "merged" not in listed[0], "GitHub lists pull requests without their merge state"
    again = client.post(PATH, json=request)
    assert again.status_code == 422, "one open pull request per head and base"
    assert again.json()["errors"][0]["message"] == "A pull request already exists for acme:feature."
    assert client.post(PATH, json=request | {"base": "same"}).json()["number"] == 2


def test_what_github_refuses_gets_its_validation_failure(tmp_path: Path) -> None:
    client, _ = _client(tmp_path)
    for request, field in (
        ({"title": "", "head": "feature", "base": "main"}, "title"),
        ({"title": "A change", "head": "nowhere", "base": "main"}, "head"),
        ({"title": "A change", "head": "feature", "base": "nowhere"}, "base"),
        ({"title": "A change", "head": "same", "base": "main"}, "head"),  # no commits between them
    ):
        refused = client.post(PATH, json=request)
        assert refused.status_code == 422, request
        assert refused.json()["message"] == "Validation Failed"
        assert [error["field"] for error in refused.json()["errors"]] == [field], request
    assert client.get(PATH).json() == []


def test_the_issue_list_holds_the_pull_requests_as_github_lists_them(tmp_path: Path) -> None:
    client, _ = _client(tmp_path)
    pull = client.post(PATH, json={"title": "A change", "head": "feature", "base": "main"}).json()
    issue = client.post("/repos/acme/deployments/issues", json={"title": "Drift", "body": "differs"}).json()
    listed = client.get("/repos/acme/deployments/issues").json()
    assert problems(Exchange("GET", "/repos/acme/deployments/issues", None, 200, listed)) == []
    assert [(item["number"], item["title"], "pull_request" in item) for item in listed] == [
        (issue["number"], "Drift", False),
        (pull["number"], "A change", True),
    ], "newest number first, the pull request marked"
    assert listed[1]["pull_request"]["url"] == pull["url"]
    oldest_first = client.get("/repos/acme/deployments/issues", params={"direction": "asc"}).json()
    assert [item["number"] for item in oldest_first] == [pull["number"], issue["number"]]
