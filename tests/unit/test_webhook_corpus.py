"""Every published webhook example of GitHub and of several GitLab versions (fixtures/webhooks/corpus/) through the
real intake: each is queued as a job or ignored with a reason, never refused; the events the bot handles carry the
values the payload holds, read from the file where that forge version puts them.

A corpus file is named `<event>[--<variant>].json`; the event is the `X-GitHub-Event` header itself, or the
`X-Gitlab-Event` header in snake case (`note_hook` is `Note Hook`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kpops_bot.events import github, gitlab
from kpops_bot.events.model import CommentEvent, Event, Ignored, PullRequestEvent, PushEvent
from kpops_bot.events.signatures import github_signature
from kpops_bot.forges.urls import forge_prefix, with_configured_clone_url
from kpops_bot.jobs import CommandRequest, DriftCheck, JobKind, decode
from kpops_bot.server.app import create_app
from kpops_bot.settings import ApplySettings, BotSettings, GitHubSettings, GitLabSettings
from kpops_bot.store import Store
from testbed.deliveries import CORPUS, CorpusFile, corpus

SECRET = "corpus-secret"
DELIVERY = "corpus-1"

# Where each version keeps what the bot reads: event field → JSON pointer into the payload.
_GITLAB_PROJECT = {"full_name": "/project/path_with_namespace"}
_GITLAB_MERGE_REQUEST = {
    **_GITLAB_PROJECT,
    "project_id": "/project/id",
    "number": "/object_attributes/iid",
    "base_ref": "/object_attributes/target_branch",
    "head_sha": "/object_attributes/last_commit/id",
}
_GITLAB_8_MERGE_REQUEST = {  # no `project` at all: the merge request's target is the project
    **_GITLAB_MERGE_REQUEST,
    "full_name": "/object_attributes/target/path_with_namespace",
    "project_id": "/object_attributes/target_project_id",
}
_GITLAB_NOTE = {
    **_GITLAB_PROJECT,
    "project_id": "/project/id",
    "number": "/merge_request/iid",
    "comment_id": "/object_attributes/id",
    "author": "/user/username",
    "body": "/object_attributes/note",
}
_GITLAB_PUSH = {**_GITLAB_PROJECT, "project_id": "/project/id", "ref": "/ref", "before": "/before", "after": "/after"}
_GITHUB_REPOSITORY = {"full_name": "/repository/full_name"}
_GITLAB_FORK = ("/object_attributes/source_project_id", "/object_attributes/target_project_id")


@dataclass(frozen=True)
class Handled:
    """An event the bot parses: where its fields are, and what the intake does with it."""

    where: dict[str, str]
    job: JobKind | None  # None: parsed, then ignored by routing (`reason`)
    reason: str = ""
    fork_when_different: tuple[str, str] | None = None  # two pointers: a fork when their values differ


@dataclass(frozen=True)
class NotHandled:
    reason: str


def _gitlab_merge_request(where: dict[str, str]) -> Handled:
    return Handled(where, JobKind.PREVIEW, fork_when_different=_GITLAB_FORK)


def _gitlab_push(where: dict[str, str]) -> Handled:
    return Handled(where, JobKind.APPLY)


EXPECTED: dict[str, Handled | NotHandled] = {
    "gitlab-8/push_hook.json": _gitlab_push({**_GITLAB_PUSH, "project_id": "/project_id"}),
    "gitlab-8/tag_push_hook.json": NotHandled("event 'Tag Push Hook' is not handled"),
    "gitlab-8/issue_hook.json": NotHandled("event 'Issue Hook' is not handled"),
    "gitlab-8/merge_request_hook.json": Handled(
        _GITLAB_8_MERGE_REQUEST, JobKind.PREVIEW, fork_when_different=_GITLAB_FORK
    ),
    "gitlab-8/note_hook--merge_request.json": Handled(
        {**_GITLAB_NOTE, "project_id": "/project_id"}, None, "no /kpops command in the comment"
    ),
    "gitlab-8/note_hook--commit.json": NotHandled("comment not on a merge request"),
    "gitlab-8/note_hook--issue.json": NotHandled("comment not on a merge request"),
    "gitlab-8/note_hook--snippet.json": NotHandled("comment not on a merge request"),
    "gitlab-10/push_hook.json": _gitlab_push(_GITLAB_PUSH),
    "gitlab-10/merge_request_hook.json": Handled(
        _GITLAB_MERGE_REQUEST, JobKind.PREVIEW, fork_when_different=_GITLAB_FORK
    ),
    "gitlab-10/wiki_page_hook.json": NotHandled("event 'Wiki Page Hook' is not handled"),
    "gitlab-12/merge_request_hook.json": _gitlab_merge_request(_GITLAB_MERGE_REQUEST),
    "gitlab-12/note_hook--merge_request.json": Handled(_GITLAB_NOTE, None, "no /kpops command in the comment"),
    "gitlab-18/push_hook.json": _gitlab_push(_GITLAB_PUSH),
    "gitlab-18/merge_request_hook.json": Handled(
        _GITLAB_MERGE_REQUEST, JobKind.PREVIEW, fork_when_different=_GITLAB_FORK
    ),
    "gitlab-18/note_hook--merge_request.json": Handled(_GITLAB_NOTE, None, "no /kpops command in the comment"),
    "gitlab-18/note_hook--commit.json": NotHandled("comment not on a merge request"),
    "github/ping.json": NotHandled("ping received"),
    "github/pull_request--synchronize.json": Handled(
        {
            **_GITHUB_REPOSITORY,
            "number": "/pull_request/number",
            "base_ref": "/pull_request/base/ref",
            "head_sha": "/pull_request/head/sha",
        },
        JobKind.PREVIEW,
        fork_when_different=("/pull_request/head/repo/full_name", "/repository/full_name"),
    ),
    "github/push--tag-deleted.json": Handled(
        {**_GITHUB_REPOSITORY, "ref": "/ref", "before": "/before", "after": "/after", "deleted": "/deleted"},
        None,
        "only pushes of branches are applied",
    ),
    "github/issue_comment--on-issue.json": NotHandled("comment on an issue, not on a pull request"),
}


CORPUS_FILES = corpus()


def _at(payload: Any, pointer: str) -> Any:
    for key in pointer.strip("/").split("/"):
        payload = payload[int(key)] if isinstance(payload, list) else payload[key]
    return payload


def _values(event: Event) -> dict[str, Any]:
    repository = event.repository
    return {
        "full_name": repository.full_name,
        "project_id": repository.project_id,
        **{name: getattr(event, name) for name in vars(event) if name != "repository"},
    }


def _parse(origin: CorpusFile, payload: Any) -> Event | Ignored:
    parse = gitlab.parse if origin.forge == "gitlab" else github.parse
    return parse(origin.event, DELIVERY, payload)


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[tuple[TestClient, Store, BotSettings]]:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    settings = BotSettings(
        github=GitHubSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        gitlab=GitLabSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
        apply=ApplySettings(push_branches=["*"]),  # pushes are jobs, so their parsed fields reach the store
        data_dir=tmp_path / "data",
    )
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as client:
        yield client, store, settings
    store.close()


def _post(client: TestClient, origin: CorpusFile) -> Any:
    body = origin.path.read_bytes()
    if origin.forge == "github":
        headers = {
            "X-GitHub-Event": origin.event,
            "X-GitHub-Delivery": DELIVERY,
            "X-Hub-Signature-256": github_signature(SECRET, body),
        }
    else:
        headers = {"X-Gitlab-Event": origin.event, "X-Gitlab-Token": SECRET, "Idempotency-Key": DELIVERY}
    return client.post(f"/webhooks/{origin.forge}", content=body, headers=headers)


def test_every_corpus_file_has_an_expectation_and_an_origin() -> None:
    assert sorted(CORPUS_FILES) == sorted(EXPECTED)
    origins = (CORPUS / "ORIGINS.md").read_text(encoding="utf-8")
    for folder in {name.split("/")[0] for name in EXPECTED}:
        assert f"`{folder}/`" in origins


@pytest.mark.parametrize("name", sorted(CORPUS_FILES))
def test_each_payload_is_queued_or_ignored_with_a_reason(
    intake: tuple[TestClient, Store, BotSettings], name: str
) -> None:
    client, store, settings = intake
    origin, expected = CORPUS_FILES[name], EXPECTED[name]
    answer = _post(client, origin)
    assert answer.status_code == 202, answer.text
    if isinstance(expected, Handled) and expected.job is not None:
        assert answer.json()["status"] == "queued"
        (job,) = store.jobs()
        assert job.kind == expected.job
        parsed = _parse(origin, json.loads(origin.path.read_bytes()))
        assert not isinstance(parsed, Ignored)
        payload = decode(job).payload
        queued = payload.comment if isinstance(payload, CommandRequest) else payload
        assert not isinstance(queued, DriftCheck)
        assert queued == with_configured_clone_url(parsed, settings)
        assert queued.repository.clone_url.startswith(forge_prefix(queued.repository.forge, settings))
    else:
        reason = expected.reason
        assert answer.json() == {"status": "ignored", "reason": reason}
        assert store.jobs() == []


@pytest.mark.parametrize("name", [name for name, expected in EXPECTED.items() if isinstance(expected, Handled)])
def test_handled_payloads_carry_the_values_where_their_version_puts_them(name: str) -> None:
    origin, expected = CORPUS_FILES[name], EXPECTED[name]
    assert isinstance(expected, Handled)
    payload = json.loads(origin.path.read_text(encoding="utf-8"))
    event = _parse(origin, payload)
    assert isinstance(event, PullRequestEvent | CommentEvent | PushEvent)
    values = _values(event)
    assert {key: values[key] for key in expected.where} == {
        key: _at(payload, pointer) for key, pointer in expected.where.items()
    }
    if expected.fork_when_different is not None:
        first, second = (_at(payload, pointer) for pointer in expected.fork_when_different)
        assert values["from_fork"] == (first != second)


def test_the_oldest_gitlab_shapes_are_in_the_corpus() -> None:
    """GitLab 8: project id only at the top (notes, pushes) or only in the merge request; pushes name no login."""
    push = json.loads((CORPUS / "gitlab-8/push_hook.json").read_text(encoding="utf-8"))
    note = json.loads((CORPUS / "gitlab-8/note_hook--merge_request.json").read_text(encoding="utf-8"))
    merge_request = json.loads((CORPUS / "gitlab-8/merge_request_hook.json").read_text(encoding="utf-8"))
    assert "id" not in push["project"] and "id" not in note["project"] and "project" not in merge_request
    assert "user_username" not in push and {"user_name", "user_id"} <= set(push)
