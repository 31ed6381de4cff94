"""The webhook front on its own: what a sender gets back for every kind of delivery, and what reaches the store."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from kpops_bot.events.signatures import github_signature
from kpops_bot.jobs import Job, JobKind
from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from kpops_bot.store import JobState, Store, replicas
from kpops_bot.worker import Worker, WorkerOptions
from testbed.deliveries import WEBHOOKS
from testbed.harness import wait_for
from testbed.postgres import stoppable_postgres, unavailable_reason
from tests.support.examples import share
from tests.support.workflow_kit import queued

SECRET = "It's a Secret to Everybody"


def _settings(**overrides: Any) -> BotSettings:
    values: dict[str, Any] = {
        "github": GitHubSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        "gitlab": GitLabSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        "max_body_bytes": 200_000,
        **overrides,
    }
    return BotSettings(**values)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), sqlite_store)) as opened:  # one event loop for all its requests
        yield opened


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / f"{name}.json").read_text())
    return data


def _github(client: TestClient, event: str, body: bytes, delivery: str = "d-1", **headers: str) -> Any:
    sent = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": github_signature(SECRET, body),
        **headers,
    }
    return client.post("/webhooks/github", content=body, headers=sent)


def _nothing_stored(store: Store) -> bool:
    return store.delivery_count() == 0 and store.jobs() == []


def test_a_signed_pull_request_is_stored_and_answered_202(client: TestClient, sqlite_store: Store) -> None:
    answer = _github(client, "pull_request", (WEBHOOKS / "github-pull_request.json").read_bytes())
    assert answer.status_code == 202
    assert answer.json() == {"status": "queued", "job": 1}
    (job,) = sqlite_store.jobs()
    assert (job.kind, job.key) == ("preview", "github:acme/kpops-deployments#42")


def test_gitlab_merge_request_with_its_token_and_idempotency_key(client: TestClient, sqlite_store: Store) -> None:
    body = (WEBHOOKS / "gitlab-merge_request.json").read_bytes()
    headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": SECRET, "Idempotency-Key": "k-1"}
    assert client.post("/webhooks/gitlab", content=body, headers=headers).json()["status"] == "queued"
    assert client.post("/webhooks/gitlab", content=body, headers=headers).json()["status"] == "duplicate"
    assert len(sqlite_store.jobs()) == 1


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=abc", github_signature("wrong secret", b"{}")],
    ids=["missing", "wrong", "other-algorithm", "other-secret"],
)
def test_bad_or_missing_signatures_get_401_and_change_nothing(
    client: TestClient, sqlite_store: Store, signature: str | None
) -> None:
    body = (WEBHOOKS / "github-pull_request.json").read_bytes()
    headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-1"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    answer = client.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 401
    assert SECRET not in answer.text
    assert _nothing_stored(sqlite_store)


def test_a_wrong_gitlab_token_is_never_echoed(client: TestClient, sqlite_store: Store) -> None:
    body = (WEBHOOKS / "gitlab-merge_request.json").read_bytes()
    headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": "guessed-token-123", "Idempotency-Key": "k"}
    answer = client.post("/webhooks/gitlab", content=body, headers=headers)
    assert answer.status_code == 401
    assert "guessed-token-123" not in answer.text
    assert _nothing_stored(sqlite_store)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "body is not JSON"),
        (b"[1, 2]", "the body is not a JSON object"),
        (b'{"action": "opened"}', "missing field pull_request"),
        (b"\xff\xfe", "body is not JSON"),
    ],
)
def test_malformed_bodies_get_400_with_the_reason(
    client: TestClient, sqlite_store: Store, body: bytes, message: str
) -> None:
    answer = _github(client, "pull_request", body)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert _nothing_stored(sqlite_store)


def _mutations(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every field replaced by each wrong type, one at a time."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        for wrong in (None, 17, "text", [], {}):
            if type(wrong) is not type(value):
                yield (*path, key), wrong
        yield from _mutations(value, (*path, key))


@pytest.mark.parametrize(
    ("forge", "event", "fixture"),
    [
        ("github", "pull_request", "github-pull_request"),
        ("github", "issue_comment", "github-issue_comment"),
        ("github", "push", "github-push"),
        ("gitlab", "Merge Request Hook", "gitlab-merge_request"),
        ("gitlab", "Note Hook", "gitlab-note"),
        ("gitlab", "Push Hook", "gitlab-push"),
    ],
)
def test_no_mutation_of_a_real_payload_gets_a_500(
    client: TestClient, sqlite_store: Store, forge: str, event: str, fixture: str
) -> None:
    original = _fixture(fixture)
    statuses: set[int] = set()
    for number, (path, wrong) in enumerate(share(list(_mutations(original)))):  # all of them but in the unit lane
        data = copy.deepcopy(original)
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = wrong
        body = json.dumps(data).encode()
        if forge == "github":
            answer = _github(client, event, body, delivery=f"m-{number}")
        else:
            headers = {"X-Gitlab-Event": event, "X-Gitlab-Token": SECRET, "Idempotency-Key": f"m-{number}"}
            answer = client.post("/webhooks/gitlab", content=body, headers=headers)
        statuses.add(answer.status_code)
        assert answer.status_code in (202, 400), (path, wrong, answer.text)
    assert 400 in statuses  # the mutations did reach fields the bot needs


def test_oversized_bodies_get_413_declared_or_streamed(client: TestClient, sqlite_store: Store) -> None:
    big = b'{"padding": "' + b"x" * 300_000 + b'"}'
    assert _github(client, "pull_request", big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield from (big[i : i + 65_536] for i in range(0, len(big), 65_536))

    answer = client.post(
        "/webhooks/github",
        content=chunks(),
        headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d", "X-Hub-Signature-256": "x"},
    )
    assert answer.status_code == 413
    assert _nothing_stored(sqlite_store)


def test_irrelevant_deliveries_get_202_with_the_reason(client: TestClient, sqlite_store: Store) -> None:
    ping = _github(client, "ping", b'{"zen": "Keep it logically awesome."}')
    assert (ping.status_code, ping.json()) == (202, {"status": "ignored", "reason": "ping received"})
    issues = _github(client, "issues", b"{}", delivery="d-2")
    assert issues.json()["reason"] == "event 'issues' is not handled"
    data = _fixture("github-pull_request")
    data["action"] = "labeled"
    labeled = _github(client, "pull_request", json.dumps(data).encode(), delivery="d-3")
    assert labeled.json()["reason"] == "pull_request action 'labeled' is not handled"
    assert _nothing_stored(sqlite_store)


def test_repositories_outside_the_allowlist_are_ignored(sqlite_store: Store) -> None:
    client = TestClient(create_app(_settings(repositories=["acme/other-*", "gitlab:acme/*"]), sqlite_store))
    answer = _github(client, "pull_request", (WEBHOOKS / "github-pull_request.json").read_bytes())
    assert answer.status_code == 202
    assert "not in this bot's allowlist" in answer.json()["reason"]
    assert _nothing_stored(sqlite_store)


def test_missing_headers_get_400(client: TestClient, sqlite_store: Store) -> None:
    body = (WEBHOOKS / "github-pull_request.json").read_bytes()
    signature = github_signature(SECRET, body)
    no_event = client.post(
        "/webhooks/github", content=body, headers={"X-GitHub-Delivery": "d", "X-Hub-Signature-256": signature}
    )
    assert (no_event.status_code, no_event.json()["error"]) == (400, "missing header x-github-event")
    no_delivery = client.post(
        "/webhooks/github", content=body, headers={"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": signature}
    )
    assert no_delivery.status_code == 400
    assert _nothing_stored(sqlite_store)


def test_a_forge_without_a_secret_is_not_served(sqlite_store: Store) -> None:
    settings = _settings(gitlab=GitLabSettings())
    client = TestClient(create_app(settings, sqlite_store))
    answer = client.post("/webhooks/gitlab", content=b"{}", headers={"X-Gitlab-Event": "Push Hook"})
    assert (answer.status_code, answer.json()["error"]) == (404, "gitlab webhooks are not enabled on this bot")


def test_insecure_mode_accepts_unsigned_deliveries(sqlite_store: Store) -> None:
    settings = BotSettings(insecure_skip_signature=True)
    client = TestClient(create_app(settings, sqlite_store))
    body = (WEBHOOKS / "github-pull_request.json").read_bytes()
    answer = client.post(
        "/webhooks/github", content=body, headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d"}
    )
    assert answer.json()["status"] == "queued"


def test_health_readiness_and_a_broken_store(client: TestClient, sqlite_store: Store) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").status_code == 200
    with sqlite_store.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE jobs"))
    answer = _github(client, "pull_request", (WEBHOOKS / "github-pull_request.json").read_bytes())
    assert answer.status_code == 503
    assert "redeliver" in answer.json()["error"]
    with sqlite_store.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
    assert client.get("/readyz").status_code == 503


@pytest.mark.postgres  # starts a server of its own: no fixture tells conftest
def test_every_store_failure_at_intake_is_a_503_in_json_also_from_a_stopped_postgresql() -> None:
    """The driver's own error (psycopg's, raised while the pool opens a connection) is a 503 too, never a 500."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    body = (WEBHOOKS / "github-pull_request.json").read_bytes()
    with stoppable_postgres() as server:
        store = Store(server.url)
        store.migrate()
        client = TestClient(create_app(_settings(), store))
        assert _github(client, "pull_request", body, delivery="before").status_code == 202
        server.stop()
        stopped = _github(client, "pull_request", body, delivery="during")
        assert (stopped.status_code, stopped.headers["content-type"]) == (503, "application/json")
        assert "redeliver" in stopped.json()["error"]
        assert client.get("/readyz").status_code == 503
        server.start()
        assert _github(client, "pull_request", body, delivery="during").json()["status"] == "queued"
        assert client.get("/readyz").status_code == 200
        store.close()


def test_a_stuck_worker_fails_liveness_and_readiness_and_stops_the_heartbeat(sqlite_store: Store) -> None:
    """A job that hangs past `stuck_after`: `/healthz` 503 (restart me), `/readyz` 503, no beat for the others."""
    release = threading.Event()

    class Hanging:
        def run(self, job: Job) -> str:
            release.wait(60)
            return "done"

        def give_up(self, job: Job, error: BaseException) -> None:
            raise AssertionError

    sqlite_store.accept("github", "d", "pull_request", queued("pr-1"))
    options = WorkerOptions(concurrency=1, poll_interval=0.02, heartbeat_seconds=0.1, stuck_after=0.5, replica_id="r")
    worker = Worker(sqlite_store, {JobKind.DRIFT: Hanging()}, options)
    client = TestClient(create_app(_settings(heartbeat_seconds=0.1), sqlite_store, worker_health=worker.health))
    worker.start()
    try:
        wait_for("ready", lambda: client.get("/readyz").status_code == 200, 30)
        assert client.get("/healthz").status_code == 200
        wait_for("stuck", lambda: client.get("/healthz").status_code == 503, 30)
        assert client.get("/readyz").json() == {"status": "no worker thread works"}
        beat = _heartbeat(sqlite_store)
        time.sleep(0.3)  # three heartbeats' time: none is written
        assert _heartbeat(sqlite_store) == beat
        release.set()
        wait_for("live again", lambda: client.get("/healthz").status_code == 200, 30)
        wait_for("ready again", lambda: client.get("/readyz").status_code == 200, 30)
    finally:
        release.set()
        worker.stop()
    assert sqlite_store.jobs()[0].state is JobState.DONE


def _heartbeat(store: Store) -> float:
    with store.engine.connect() as connection:
        return float(connection.execute(sa.select(replicas.c.heartbeat_at)).scalar_one())
