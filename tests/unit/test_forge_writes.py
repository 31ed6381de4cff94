"""Every forge write is single under a late answer, on both forges: the forge stores the write, answers after the
client's timeout, then answers 5xx to everything for a while. The real PyGithub / python-gitlab clients run against
the fake forges with the production retry policy; only its sleep is virtual, and the fake's outage counts the same
virtual seconds, so "a minute of 5xx" takes no minute and no assertion depends on time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.github import GitHubClient
from kpops_bot.forges.retry import RetryPolicy
from kpops_bot.model.forge import Annotation, AnnotationLevel, CheckReport, CommitState, ForgeError
from kpops_bot.playground.fake_forge import FaultPlan, LoggedRequest
from kpops_bot.playground.fake_github import FakeGitHub
from kpops_bot.report.answers import Answer, marked
from kpops_bot.settings import GitHubSettings
from kpops_bot.workflows import once, sticky
from testbed.forges import RunningForge, running_forge, running_github
from testbed.repos import GitRepo
from tests.support.keys import app_key

TIMEOUT = 2.0  # the client's seconds per request (a busy machine answers a plain read within it)
HELD = 5.0  # real seconds the fake holds the answer to the stored write: beyond the client's timeout
# Virtual seconds of 5xx after the write is stored: the issue's minute, and 20 s (within which the old blind
# retries came through and wrote again).
OUTAGES = [20.0, 60.0]
MINUTE = 60.0
COMMENTS = r"/issues/\d+/comments$|/notes$"
# Each test waits out the client's TIMEOUT in real seconds: out of the unit lane, which is seconds in all
pytestmark = pytest.mark.client_timeout


class Clock:
    """Virtual seconds: the retry policy's sleep advances them, the fake forge's outage counts them."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def forge(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[RunningForge]:
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "hi\n")
    repo.commit("readme")
    policy = RetryPolicy(sleep=clock.sleep)  # the production policy, its waits virtual
    with running_forge(request.param, repo.path / ".git", retry=policy, timeout=TIMEOUT) as running:
        yield running
        running.faults.late.clear()  # answers still held are given now, so the server stops at once


@pytest.fixture
def clock() -> Clock:
    return Clock()


def stored_late_then_down(faults: FaultPlan, clock: Clock, pattern: str, outage: float) -> None:
    """The next write matching `pattern` is stored, its answer held past the client's timeout, and from then on
    the forge answers 502 to every request for `outage` virtual seconds."""
    faults.late[pattern] = HELD
    faults.fail_after_write(pattern, outage, clock=clock)


def writes(log: list[LoggedRequest], pattern: str) -> list[LoggedRequest]:
    return [entry for entry in log if entry.method == "POST" and re.search(pattern, entry.path)]


def outlasted(log: list[LoggedRequest], clock: Clock, outage: float) -> bool:
    """The client met the outage and waited it out (else the test showed nothing)."""
    return clock.now >= outage and any(entry.status == 502 for entry in log)


@pytest.mark.parametrize("outage", OUTAGES)
def test_an_answer_stored_then_answered_late_and_failed_for_a_while_is_posted_once(
    forge: RunningForge, clock: Clock, outage: float
) -> None:
    stored_late_then_down(forge.faults, clock, COMMENTS, outage)
    reply = Answer("applied", ["Applied word-count."])
    answer = once.answer(forge.client, forge.repository, 5, "job-7", reply, "applied")
    assert [(comment.id, comment.author) for comment in forge.comments(5)] == [(answer.id, "kpops-bot")]
    assert forge.comments(5)[0].body == marked(reply, "job-7", forge.client.comment_limit, "applied")
    assert len(writes(forge.log, COMMENTS)) == 1  # looked for it, never sent it again
    assert outlasted(forge.log, clock, outage)


def test_a_sticky_part_stored_then_answered_late_and_failed_for_a_while_is_posted_once(
    forge: RunningForge, clock: Clock
) -> None:
    body = "<!-- kpops-bot:diff part 1/1 -->\n## kpops: 1 pipeline changed"
    stored_late_then_down(forge.faults, clock, COMMENTS, MINUTE)
    (part,) = sticky.sync(forge.client, forge.repository, 5, [body])
    assert [(comment.id, comment.body) for comment in forge.comments(5)] == [(part.id, body)]
    assert outlasted(forge.log, clock, MINUTE)


def test_a_reaction_stored_then_answered_late_and_failed_for_a_while_is_given_once(
    forge: RunningForge, clock: Clock
) -> None:
    comment_id = forge.add_comment(3, "alice", "/kpops help")
    pattern = r"/reactions$|/award_emoji$"
    stored_late_then_down(forge.faults, clock, pattern, MINUTE)
    once.react(forge.client, forge.repository, 3, comment_id, "eyes")
    assert forge.comments(3)[0].reactions == ["eyes"]
    assert len(writes(forge.log, pattern)) == 1  # GitLab refuses a second award with a 404: never sent
    assert outlasted(forge.log, clock, MINUTE)


def test_a_status_stored_then_answered_late_and_failed_for_a_while_is_set_once(
    forge: RunningForge, clock: Clock
) -> None:
    sha = "a" * 40
    stored_late_then_down(forge.faults, clock, r"/statuses/", MINUTE)
    forge.client.set_status(forge.repository, sha, CommitState.SUCCESS, "Pipelines: 1 changed")
    assert [(status.state, status.description) for status in forge.statuses(sha)] == [
        (forge.success, "Pipelines: 1 changed")
    ]
    assert outlasted(forge.log, clock, MINUTE)


def test_an_issue_stored_then_answered_late_and_failed_for_a_while_is_opened_once(
    forge: RunningForge, clock: Clock
) -> None:
    body = "<!-- kpops-bot:drift main -->\nThe cluster differs from main."
    stored_late_then_down(forge.faults, clock, r"/issues$", MINUTE)
    issue = forge.client.create_issue(forge.repository, "Drift on main", body)
    assert forge.issues() == [(issue.number, body)]
    assert forge.client.open_issue_with(forge.repository, "<!-- kpops-bot:drift main -->") == issue
    assert outlasted(forge.log, clock, MINUTE)


def test_a_forge_down_beyond_the_patience_fails_transiently_and_the_jobs_retry_finds_the_answer(
    forge: RunningForge, clock: Clock
) -> None:
    """The client gives up after its patience without writing blind; the job is retried later (the error says it
    is transient) and its look before writing finds the answer the forge had stored."""
    stored_late_then_down(forge.faults, clock, COMMENTS, 3600)
    with pytest.raises(ForgeError) as raised:
        once.answer(forge.client, forge.repository, 5, "job-8", Answer("destroyed", ["Destroyed word-count."]))
    assert raised.value.transient
    assert raised.value.status == 502
    assert len(forge.comments(5)) == 1
    clock.sleep(3600)  # the forge is back
    answer = once.answer(forge.client, forge.repository, 5, "job-8", Answer("destroyed", ["Destroyed word-count."]))
    assert [comment.id for comment in forge.comments(5)] == [answer.id]
    assert len(writes(forge.log, COMMENTS)) == 1


@dataclass
class GitHubApp:
    client: GitHubClient  # as the App, with the production retry policy and its virtual sleep
    fake: FakeGitHub
    repository: Repository


@pytest.fixture
def github_app(tmp_path: Path, clock: Clock) -> Iterator[GitHubApp]:
    """Check runs are a GitHub App's."""
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "hi\n")
    repo.commit("readme")
    key = app_key()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with running_github(repo.path / ".git") as (_, fake):
        fake.enable_app(4711, public_pem.decode())
        settings = GitHubSettings(
            api_url=fake.base_url,
            app_id=4711,
            app_private_key=private_pem,  # type: ignore[arg-type]
            seconds_between_writes=0,
            timeout=TIMEOUT,
        )
        client = GitHubClient(settings, RetryPolicy(sleep=clock.sleep))
        client.bot_name()
        yield GitHubApp(client, fake, Repository(Forge.GITHUB, "acme/deployments", ""))
        fake.faults.late.clear()


def test_a_check_run_stored_then_answered_late_and_failed_for_a_while_is_created_once(
    github_app: GitHubApp, clock: Clock
) -> None:
    sha = "b" * 40
    stored_late_then_down(github_app.fake.faults, clock, r"/check-runs$", MINUTE)
    report = CheckReport(success=True, title="1 pipeline changed", summary="word-count", text="details")
    assert github_app.client.publish_check(github_app.repository, sha, report)
    (run,) = github_app.fake.commit_check_runs("acme/deployments", sha)
    assert (run.name, run.conclusion, run.output["title"]) == ("kpops-bot", "success", "1 pipeline changed")
    assert outlasted(github_app.fake.log, clock, MINUTE)


def test_annotations_stored_then_answered_late_and_failed_for_a_while_are_added_once(
    github_app: GitHubApp, clock: Clock
) -> None:
    """120 annotations go out in three requests (GitHub takes 50 each); the second, an update of the run that
    adds annotations, is stored and answered late: each annotation is on the run once."""
    sha = "c" * 40
    annotations = tuple(
        Annotation("pipelines/word-count/pipeline.yaml", line, AnnotationLevel.WARNING, "risk", f"line {line}")
        for line in range(1, 121)
    )
    report = CheckReport(False, "1 risk", "word-count", "details", annotations)
    stored_late_then_down(github_app.fake.faults, clock, r"/check-runs/\d+$", MINUTE)
    assert github_app.client.publish_check(github_app.repository, sha, report)
    (run,) = github_app.fake.commit_check_runs("acme/deployments", sha)
    assert [annotation["message"] for annotation in run.annotations] == [f"line {line}" for line in range(1, 121)]
    assert outlasted(github_app.fake.log, clock, MINUTE)
