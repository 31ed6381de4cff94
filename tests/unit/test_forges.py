"""The forge clients (PyGithub, python-gitlab) against the fake forges: one contract, both forges."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.failures import without_credentials
from kpops_bot.forges.github import GitHubClient
from kpops_bot.forges.gitlab import GitLabClient
from kpops_bot.model.forge import (
    CommitState,
    CommitStatus,
    ForgeClient,
    ForgeError,
    Permission,
    Reaction,
    Review,
    Verdict,
)
from kpops_bot.playground.asgi_server import free_port
from kpops_bot.settings import GitHubSettings, GitLabSettings
from kpops_bot.workflows import once
from kpops_bot.workspace import http_auth_env
from testbed.forges import FAST_RETRIES, RETRY_WAITS, RunningForge, running_forge, running_github
from testbed.repos import GitRepo
from tests.support.keys import app_key

PERMISSIONS = {"alice": "write", "bob": "read", "carol": "maintain"}


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def forge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningForge]:
    repo = GitRepo(tmp_path / "repo")
    repo.write(".kpops-bot.yaml", "previews: true\n")
    repo.commit("config")
    with running_forge(request.param, repo.path / ".git", PERMISSIONS) as running:
        yield running


def test_comments_are_created_listed_across_pages_edited_and_deleted(forge: RunningForge) -> None:
    client, repository = forge.client, forge.repository
    for index in range(45):  # more than a page of the fakes' default and of GitLab's 20
        forge.add_comment(7, "alice", f"comment {index}")
    created = client.create_comment(repository, 7, "<!-- kpops-bot:diff part 1/1 -->\nhello")
    listed = client.comments(repository, 7)
    assert len(listed) == 46
    assert [comment.body for comment in listed[:2]] == ["comment 0", "comment 1"]  # oldest first
    assert listed[-1].id == created.id
    assert listed[-1].author == client.bot_name() == "kpops-bot"
    client.edit_comment(repository, 7, created.id, "edited")
    assert forge.comments(7)[-1].body == "edited"
    client.delete_comment(repository, 7, created.id)
    assert len(forge.comments(7)) == 45
    assert client.comments(repository, 8) == []


def test_reactions_statuses_and_permissions(forge: RunningForge) -> None:
    client, repository = forge.client, forge.repository
    comment_id = forge.add_comment(3, "alice", "/kpops help")
    client.react(repository, 3, comment_id, "eyes")
    assert forge.comments(3)[0].reactions == ["eyes"]
    sha = "c" * 40
    client.set_status(repository, sha, CommitState.PENDING, "rendering")
    client.set_status(repository, sha, CommitState.PENDING, "rendering again")  # a retried job does this
    client.set_status(repository, sha, CommitState.FAILURE, "x" * 300)
    statuses = forge.statuses(sha)
    assert statuses[0].state == "pending"
    assert statuses[-1].state == forge.failure
    assert {status.name for status in statuses} == {"kpops-bot"}
    assert client.permission(repository, "alice") is Permission.WRITE
    assert client.permission(repository, "bob") is Permission.READ
    assert client.permission(repository, "carol") is Permission.MAINTAIN
    assert client.permission(repository, "mallory") is Permission.NONE


def test_a_commits_status_history_is_listed_newest_first(forge: RunningForge) -> None:
    client, repository = forge.client, forge.repository
    sha = "e" * 40
    assert client.status_history(repository, sha) == []
    client.set_status(repository, sha, CommitState.SUCCESS, "Pipelines: 1 changed", "https://forge.test/c/1")
    client.set_status(repository, sha, CommitState.PENDING, "Preparing kpops 8.1.4")
    client.set_status(repository, sha, CommitState.FAILURE, "Pipelines: 1 failed")
    assert client.status_history(repository, sha) == [
        CommitStatus(CommitState.FAILURE, "Pipelines: 1 failed", None),
        CommitStatus(CommitState.PENDING, "Preparing kpops 8.1.4", None),
        CommitStatus(CommitState.SUCCESS, "Pipelines: 1 changed", "https://forge.test/c/1"),
    ]
    assert client.status(repository, sha) == client.status_history(repository, sha)[0]


def test_a_retry_finds_its_reaction_and_status_and_writes_neither_again(forge: RunningForge) -> None:
    client, repository = forge.client, forge.repository
    comment_id = forge.add_comment(3, "alice", "/kpops help")
    assert client.reactions(repository, 3, comment_id) == []
    once.react(client, repository, 3, comment_id, "eyes")
    once.react(client, repository, 3, comment_id, "eyes")  # a GitLab award twice would be refused
    assert client.reactions(repository, 3, comment_id) == [Reaction(client.bot_name(), "eyes")]
    assert forge.comments(3)[0].reactions == ["eyes"]
    sha = "d" * 40
    assert client.status(repository, sha) is None
    for _attempt in range(2):
        client.set_status(repository, sha, CommitState.PENDING, "rendering")
        client.set_status(repository, sha, CommitState.SUCCESS, "Pipelines: 1 changed", "https://forge.test/c/1")
    assert [status.state for status in forge.statuses(sha)] == ["pending", "success", "pending", "success"]
    client.set_status(repository, sha, CommitState.SUCCESS, "Pipelines: 1 changed", "https://forge.test/c/1")
    assert len(forge.statuses(sha)) == 4  # the same as the current one: not written
    assert client.status(repository, sha) == CommitStatus(
        CommitState.SUCCESS, "Pipelines: 1 changed", "https://forge.test/c/1"
    )


def test_pull_requests_are_read_with_approval_mergeability_and_listed_across_pages(forge: RunningForge) -> None:
    client, repository = forge.client, forge.repository
    for number in range(1, 36):  # more than one page of both forges' default
        forge.pulls.open(number, f"{number:040x}")
    forge.pulls.close(3)
    forge.pulls.merge(4, "d" * 40)
    assert sorted(client.open_pull_requests(repository)) == [n for n in range(1, 36) if n not in (3, 4)]
    pull = client.pull_request(repository, 5)
    assert (pull.state, pull.author, pull.base_ref, pull.head_sha) == ("open", "alice", "main", f"{5:040x}")
    assert (pull.reviews, pull.mergeable, pull.from_fork, pull.merge_commit_sha) == ((), True, False, None)
    assert pull.labels == ()
    forge.pulls.label(5, "reviewed-by-platform")
    forge.pulls.label(5, "team a")
    assert client.pull_request(repository, 5).labels == ("reviewed-by-platform", "team a")  # what policies see
    forge.pulls.approve(5, "carol")
    forge.pulls.conflict(5)
    pull = client.pull_request(repository, 5)
    reviewed = f"{5:040x}" if forge.forge is Forge.GITHUB else None  # GitLab drops approvals on push instead
    assert (pull.reviews, pull.mergeable) == ((Review("carol", Verdict.APPROVED, reviewed),), False)
    forge.pulls.push(5, "e" * 40)
    after_push = client.pull_request(repository, 5).reviews
    assert after_push == (((Review("carol", Verdict.APPROVED, reviewed),)) if forge.forge is Forge.GITHUB else ())
    merged = client.pull_request(repository, 4)
    assert (merged.state, merged.merge_commit_sha, merged.open) == ("merged", "d" * 40, False)
    assert client.pull_request(repository, 3).state == "closed"
    with pytest.raises(ForgeError):
        client.pull_request(repository, 99)
    assert client.commit_url(repository, "e" * 40).endswith(
        f"/{repository.full_name}" + ("/commit/" if forge.forge is Forge.GITHUB else "/-/commit/") + "e" * 40
    )


def test_files_are_read_at_a_revision(forge: RunningForge) -> None:
    client, repository = forge.client, forge.repository
    assert client.read_file(repository, ".kpops-bot.yaml", "main") == "previews: true\n"
    assert client.read_file(repository, "missing.yaml", "main") is None


def test_git_credentials_are_the_bots_token_as_a_basic_auth_header(forge: RunningForge) -> None:
    env = forge.client.git_env(forge.repository)
    user = "x-access-token" if forge.forge is Forge.GITHUB else "oauth2"
    assert env == http_auth_env(user, "bot-token", forge.url.removesuffix("/api/v3") + "/")


def test_transient_errors_are_retried_and_a_create_is_sent_again_only_after_a_look(forge: RunningForge) -> None:
    github = forge.forge is Forge.GITHUB
    forge.client.bot_name()
    forge.faults.add(502, count=2)
    # GitLab's 429 waits are python-gitlab's own (real sleeps): asked to wait 0 s there.
    forge.faults.add(429, count=1, headers={"Retry-After": "1" if github else "0"})
    forge.faults.add(503, count=1)
    RETRY_WAITS.clear()
    created = forge.client.create_comment(forge.repository, 5, "after a bad minute")
    assert [comment.id for comment in forge.comments(5)] == [created.id]
    # The failed create, then looks for it (failing, then "not there"), and only then the create again.
    assert [(entry.method, entry.status) for entry in forge.log[-6:]] == [
        ("POST", 502),
        ("GET", 502),
        ("GET", 429),
        ("GET", 503),
        ("GET", 200),
        ("POST", 201),
    ]
    if github:
        assert len(RETRY_WAITS) == 4
        assert RETRY_WAITS[2] == 1.0  # the forge's Retry-After, honoured (recorded, not waited out here)
    else:
        assert len(RETRY_WAITS) == 3  # python-gitlab waited the 429 out itself


def test_a_forge_that_stays_down_gives_a_forge_error_without_secrets(forge: RunningForge) -> None:
    forge.faults.add(502, count=50)
    with pytest.raises(ForgeError) as raised:
        forge.client.create_comment(forge.repository, 5, "never")
    assert "502" in str(raised.value)
    assert "bot-token" not in str(raised.value)
    assert sum(entry.status == 502 for entry in forge.log) == FAST_RETRIES.attempts


def test_github_enterprise_base_url_and_app_installation_auth(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "hi\n")
    repo.commit("readme")
    key = app_key()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with running_github(repo.path / ".git", prefix="/api/v3") as (_, fake):
        fake.enable_app(4711, public_pem)
        settings = GitHubSettings(
            api_url=fake.base_url,
            app_id=4711,
            app_private_key=private_pem,  # type: ignore[arg-type]
            seconds_between_writes=0,
        )
        client = GitHubClient(settings, FAST_RETRIES)
        repository = Repository(Forge.GITHUB, "acme/deployments", "")
        created = client.create_comment(repository, 1, "as the app")
        assert client.bot_name() == "kpops-bot-app[bot]"
        assert created.author == "kpops-bot-app[bot]"
        assert client.read_file(repository, "README.md", "main") == "hi\n"
        assert all(entry.path.startswith("/api/v3/") for entry in fake.log)
        assert any(entry.path.endswith("/access_tokens") for entry in fake.log)
        header = base64.b64decode(client.git_env(repository)["GIT_CONFIG_VALUE_0"].split()[-1]).decode()
        user, token = header.split(":")
        assert user == "x-access-token"
        assert fake.tokens[token] == "kpops-bot-app[bot]"  # the installation token, not the App's key


def _client(forge: RunningForge, token: str | None, url: str | None = None) -> ForgeClient:
    """Another client of the running forge, with these credentials."""
    if forge.forge is Forge.GITHUB:
        github = GitHubSettings(
            api_url=url or forge.url,
            token=token,  # type: ignore[arg-type]
            seconds_between_writes=0,
            bot_login="kpops-bot" if url else None,
        )
        return GitHubClient(github, FAST_RETRIES)
    gitlab = GitLabSettings(url=url or forge.url, token=token, bot_username="kpops-bot" if url else None)  # type: ignore[arg-type]
    return GitLabClient(gitlab, FAST_RETRIES)


def test_a_wrong_token_is_refused_at_once_with_the_forges_words_and_the_url(forge: RunningForge) -> None:
    client = _client(forge, "wrong-token")
    if forge.forge is Forge.GITHUB:
        told = f"GitHub user lookup: HTTP 401 Bad credentials ({forge.url}/user)"
    else:
        told = f"GitLab user lookup: HTTP 401 Unauthorized ({forge.url}/api/v4/user)"
    asked = len(forge.log)
    with pytest.raises(ForgeError) as raised:
        client.create_comment(forge.repository, 5, "never")
    assert (str(raised.value), raised.value.status, raised.value.transient) == (told, 401, False)
    assert len(forge.log) == asked + 1  # asked once: a refused token is not retried
    assert forge.comments(5) == []
    with pytest.raises(ForgeError) as raised:
        client.check_credentials()
    assert str(raised.value) == told.replace("user lookup", "token check")


def test_the_credentials_check_names_who_the_forge_says_the_bot_is(forge: RunningForge) -> None:
    assert forge.client.check_credentials() == "the user kpops-bot"
    with pytest.raises(ForgeError, match="no credentials"):
        _client(forge, None).check_credentials()


def test_an_unreachable_forge_is_named_by_its_url_and_transient(
    forge: RunningForge, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = _client(forge, "bot-token", url)
    with caplog.at_level(logging.WARNING, logger="kpops_bot.forges.retry"), pytest.raises(ForgeError) as raised:
        client.create_comment(forge.repository, 5, "never")
    assert (raised.value.status, raised.value.transient) == (None, True)
    assert f"no answer from {url}/" in str(raised.value)
    retries = [record.getMessage() for record in caplog.records if record.name == "kpops_bot.forges.retry"]
    assert retries and all(f"ConnectionError, no answer from {url}/" in message for message in retries)
    with pytest.raises(ForgeError, match=f"no answer from {url}/"):
        client.check_credentials()


def test_a_github_apps_credentials_are_checked_with_its_installations(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "hi\n")
    repo.commit("readme")
    key, other = app_key(0), app_key(1)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with running_github(repo.path / ".git") as (_, fake):
        fake.enable_app(4711, public_pem.decode())

        def app(signing_key: rsa.RSAPrivateKey) -> GitHubClient:
            pem = signing_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            settings = GitHubSettings(api_url=fake.base_url, app_id=4711, app_private_key=pem)  # type: ignore[arg-type]
            return GitHubClient(settings, FAST_RETRIES)

        assert app(key).check_credentials() == "the App kpops-bot-app (1 installation(s))"
        with pytest.raises(ForgeError) as raised:
            app(other).check_credentials()
        assert str(raised.value) == (
            f"GitHub App check: HTTP 401 A JSON web token could not be decoded ({fake.base_url}/app)"
        )
        broken = GitHubSettings(api_url=fake.base_url, app_id=4711, app_private_key="-----BEGIN RSA PRIVATE KEY-----\n")  # type: ignore[arg-type]
        with pytest.raises(ForgeError) as raised:
            GitHubClient(broken, FAST_RETRIES).check_credentials()
        assert str(raised.value) == "GitHub App check: the App's private key cannot sign a token (InvalidKeyError)"


def test_urls_in_forge_errors_lose_user_info_and_query() -> None:
    assert without_credentials("https://bot:glpat-s3cret@gitlab.example.com:8443/api/v4/user?private_token=t#x") == (
        "https://gitlab.example.com:8443/api/v4/user"
    )
    assert without_credentials("http://[::1]:9000/repos/a/b?access_token=t") == "http://[::1]:9000/repos/a/b"
