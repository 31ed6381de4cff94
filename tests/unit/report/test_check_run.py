"""The check run: a GitHub App's preview reports through one, with annotations on the lines behind each risk; the
fake GitHub answers the check-run endpoints as GitHub does (App tokens only, 50 annotations per request)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.pool import RenderPool
from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.github import GitHubClient
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import Annotation, AnnotationLevel, CheckReport
from kpops_bot.playground.asgi_server import ThreadedServer
from kpops_bot.playground.fake_github import FakeGitHub
from kpops_bot.report.check_run import check_report
from kpops_bot.settings import GitHubSettings
from kpops_bot.versions.index import WaitListener
from kpops_bot.workflows.preview import PreviewWorkflow
from kpops_bot.workspace import Workspace
from testbed.forges import FAST_RETRIES
from testbed.repos import GitRepo
from tests.support.golden import check_golden
from tests.support.keys import app_key
from tests.support.reports import mixed_report
from tests.support.workflow_kit import job, pull_request_event, settings

FULL_NAME = "acme/deployments"
WORD_COUNT = "pipelines/word-count/pipeline.yaml"
APP_ID = 4711


@dataclasses.dataclass
class GitHubApp:
    fake: FakeGitHub
    app: GitHubClient
    token: GitHubClient
    repository: Repository


@pytest.fixture
def github(deployment_repo: GitRepo) -> Iterator[GitHubApp]:
    key = app_key()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    fake = FakeGitHub()
    fake.add_repo(FULL_NAME, deployment_repo.path / ".git")
    fake.enable_app(APP_ID, public_pem)
    with ThreadedServer(fake.asgi()) as server:
        fake.origin = server.url
        app = GitHubSettings(
            api_url=fake.base_url,
            app_id=APP_ID,
            app_private_key=private_pem,  # type: ignore[arg-type]
            seconds_between_writes=0,
        )
        token = GitHubSettings(api_url=fake.base_url, token="bot-token", seconds_between_writes=0)  # type: ignore[arg-type]
        yield GitHubApp(
            fake,
            GitHubClient(app, FAST_RETRIES),
            GitHubClient(token, FAST_RETRIES),
            Repository(Forge.GITHUB, FULL_NAME, str(deployment_repo.path)),
        )


def annotations(count: int) -> tuple[Annotation, ...]:
    return tuple(
        Annotation(WORD_COUNT, line, AnnotationLevel.WARNING, f"risk {line}", f"message {line}")
        for line in range(1, count + 1)
    )


def report(count: int) -> CheckReport:
    return CheckReport(
        success=False, title="1 blocking risk", summary="summary", text="details", annotations=annotations(count)
    )


def test_an_app_writes_more_than_50_annotations_in_further_updates(github: GitHubApp) -> None:
    sha = "a" * 40
    assert github.app.publish_check(github.repository, sha, report(120))
    [run] = github.fake.commit_check_runs(FULL_NAME, sha)
    assert (run.name, run.status, run.conclusion) == ("kpops-bot", "completed", "failure")
    assert [a["start_line"] for a in run.annotations] == list(range(1, 121))
    writes = [(entry.method, entry.status) for entry in github.fake.log if "/check-runs" in entry.path]
    assert writes == [("GET", 200), ("POST", 201), ("PATCH", 200), ("PATCH", 200)]

    assert github.app.publish_check(github.repository, sha, report(120))  # a retried job updates the same run
    [again] = github.fake.commit_check_runs(FULL_NAME, sha)
    assert [a["start_line"] for a in again.annotations] == list(range(1, 121))  # and adds no annotation twice


def test_a_retry_after_a_partial_publish_adds_only_the_missing_annotations(github: GitHubApp) -> None:
    sha = "e" * 40
    assert github.app.publish_check(github.repository, sha, report(50))  # a first attempt stopped after one request
    assert github.app.publish_check(github.repository, sha, report(120))
    [run] = github.fake.commit_check_runs(FULL_NAME, sha)
    assert [a["start_line"] for a in run.annotations] == list(range(1, 121))


def test_a_token_keeps_the_commit_status_and_the_fake_refuses_it_check_runs(github: GitHubApp) -> None:
    sha = "b" * 40
    assert not github.token.publish_check(github.repository, sha, report(1))
    assert github.fake.commit_check_runs(FULL_NAME, sha) == []
    body = {"name": "kpops-bot", "head_sha": sha}
    answer = httpx.post(
        f"{github.fake.base_url}/repos/{FULL_NAME}/check-runs", json=body, headers={"Authorization": "token bot-token"}
    )
    assert answer.status_code == 403


def test_the_fake_validates_annotations_as_github_does(github: GitHubApp) -> None:
    token = next(iter(t for t, login in github.fake.tokens.items() if login.endswith("[bot]")), None)
    if token is None:  # an installation token exists once the App client made a call
        github.app.publish_check(github.repository, "c" * 40, report(1))
        token = next(t for t, login in github.fake.tokens.items() if login.endswith("[bot]"))
    url = f"{github.fake.base_url}/repos/{FULL_NAME}/check-runs"
    headers = {"Authorization": f"token {token}"}

    def post(annotation_list: list[dict[str, Any]]) -> int:
        output = {"title": "t", "summary": "s", "annotations": annotation_list}
        body = {
            "name": "kpops-bot",
            "head_sha": "d" * 40,
            "status": "completed",
            "conclusion": "success",
            "output": output,
        }
        return httpx.post(url, json=body, headers=headers).status_code

    good = {"path": WORD_COUNT, "start_line": 3, "end_line": 3, "annotation_level": "warning", "message": "m"}
    assert post([good] * 50) == 201
    assert post([good] * 51) == 422
    assert post([{**good, "annotation_level": "danger"}]) == 422
    assert post([{key: value for key, value in good.items() if key != "path"}]) == 422


def test_a_preview_as_an_app_annotates_the_lines_behind_its_risks(
    github: GitHubApp, deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    repo = deployment_repo
    repo.git("checkout", "-q", "-b", "feature")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 1")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: three")
    head = repo.commit("fewer partitions, replicas as a word")
    repo.git("checkout", "-q", "main")

    def diff(
        request: DiffRequest,
        options: DiffOptions,
        *,
        trusted: bool,
        git_env: dict[str, str],
        on_wait: WaitListener | None = None,
    ) -> DiffReport:
        return diff_revisions(workspace, pool, dataclasses.replace(request, source=str(repo.path)), options)

    workflow = PreviewWorkflow(settings(environments={}), lambda _forge: github.app, diff, lambda _job, _kinds: None)
    event = pull_request_event(head_sha=head, repository=github.repository)
    outcome = workflow.run(job(event, JobKind.PREVIEW))
    assert outcome.endswith("status failure")

    [run] = github.fake.commit_check_runs(FULL_NAME, head)
    assert run.conclusion == "failure"
    assert run.output["title"] == "🛑 2 blocking risks"
    assert "| `word-count` |" in run.output["summary"]
    assert "<details>" in run.output["text"]
    lines = repo.git("show", f"{head}:{WORD_COUNT}").splitlines()
    wanted = {
        next(n for n, line in enumerate(lines, 1) if "partitions_count: 1" in line): "partitions-decreased",
        next(n for n, line in enumerate(lines, 1) if "replicaCount: three" in line): "manifest-invalid",
    }
    found = {a["start_line"]: a["title"].rsplit(": ", 1)[1] for a in run.annotations}
    assert found == wanted
    assert {a["path"] for a in run.annotations} == {WORD_COUNT}
    assert {a["annotation_level"] for a in run.annotations} == {"failure"}
    assert github.fake.commit_statuses(FULL_NAME, head)[-1].state == "failure"  # the status is kept beside it


def test_golden_check_run() -> None:
    built = check_report(mixed_report())
    check_golden("check-run/mixed-summary.md", built.summary + "\n")
    check_golden("check-run/mixed-text.md", built.text)
    shown = [dataclasses.asdict(annotation) for annotation in built.annotations]
    check_golden("check-run/mixed-annotations.json", json.dumps(shown, indent=2, ensure_ascii=False) + "\n")
    assert built.title == "❌ 1 pipeline failed to render"
    assert not built.success
