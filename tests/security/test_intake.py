"""Whatever a sender can send gets a 4xx naming the problem, never a 5xx: hostile JSON and fuzzed payloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kpops_bot.events.signatures import github_signature
from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from kpops_bot.store import Store
from testbed.deliveries import WEBHOOKS, corpus
from tests.support.examples import examples

SECRET = "fuzz-secret"
# The hand-written fixtures and every published example of the corpus: name → (forge, event header, file).
FIXTURES = {
    "github-pull_request": ("github", "pull_request", WEBHOOKS / "github-pull_request.json"),
    "github-issue_comment": ("github", "issue_comment", WEBHOOKS / "github-issue_comment.json"),
    "github-push": ("github", "push", WEBHOOKS / "github-push.json"),
    "gitlab-merge_request": ("gitlab", "Merge Request Hook", WEBHOOKS / "gitlab-merge_request.json"),
    "gitlab-note": ("gitlab", "Note Hook", WEBHOOKS / "gitlab-note.json"),
    "gitlab-push": ("gitlab", "Push Hook", WEBHOOKS / "gitlab-push.json"),
    **{name: (found.forge, found.event, found.path) for name, found in corpus().items()},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('intake') / 'bot.db'}")
    store.migrate()
    settings = BotSettings(
        github=GitHubSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        gitlab=GitLabSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        data_dir=Path(tmp_path_factory.mktemp("data")),
    )
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as test_client:
        yield test_client
    store.close()


_deliveries = iter(range(10**9))


def _send(client: TestClient, fixture: str, body: bytes) -> Any:
    forge, event, _ = FIXTURES[fixture]
    delivery = f"fuzz-{next(_deliveries)}"
    if forge == "github":
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": github_signature(SECRET, body),
        }
        return client.post("/webhooks/github", content=body, headers=headers)
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Token": SECRET, "Idempotency-Key": delivery}
    return client.post("/webhooks/gitlab", content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
        (b'{"number": ' + b"7" * 5_000 + b"}", "digits"),
        (b"\xff\xfe{}", "body is not JSON the bot reads"),
    ],
)
@pytest.mark.parametrize("fixture", ["github-pull_request", "gitlab-note"])
def test_hostile_json_is_a_400_naming_the_problem(client: TestClient, fixture: str, body: bytes, problem: str) -> None:
    answer = _send(client, fixture, body)
    assert answer.status_code == 400, answer.text
    assert problem in answer.json()["error"]


@pytest.mark.parametrize("fixture", ["github-pull_request", "gitlab-merge_request"])
def test_an_id_larger_than_any_forge_gives_is_a_400(client: TestClient, fixture: str) -> None:
    data = json.loads(FIXTURES[fixture][2].read_text())
    section = data["pull_request"] if "pull_request" in data else data["object_attributes"]
    section["number" if "number" in section else "iid"] = 10**40
    answer = _send(client, fixture, json.dumps(data).encode())
    assert answer.status_code == 400
    assert "out of range" in answer.json()["error"]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    found = [path] if path else []
    for key, value in items:
        found += _paths(value, (*path, key))
    return found


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    fixture = draw(st.sampled_from(sorted(FIXTURES)))
    data = json.loads(FIXTURES[fixture][2].read_text())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_json_values)
    return fixture, json.dumps(data).encode()


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutated())
def test_fuzzed_fixture_payloads_never_get_a_5xx(client: TestClient, case: tuple[str, bytes]) -> None:
    fixture, body = case
    answer = _send(client, fixture, body)
    assert answer.status_code in (202, 400), (answer.status_code, answer.text)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(FIXTURES)), st.binary(max_size=200))
def test_fuzzed_bytes_never_get_a_5xx(client: TestClient, fixture: str, body: bytes) -> None:
    assert _send(client, fixture, body).status_code in (202, 400)
