"""End to end, on both forges: signed delivery → server → store → worker → diff → comment and status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.report.identity import MARKER
from kpops_bot.store import JobState
from testbed.harness import BotHarness, running_bot, wait_for
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
ORDERS = "pipelines/team-a/orders/pipeline.yaml"


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def harness(
    request: pytest.FixtureRequest, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> Iterator[BotHarness]:
    with running_bot(request.param, engine_settings, tmp_path, deployment_repo) as running:
        yield running


def _branch(repo: GitRepo, name: str) -> None:
    repo.git("checkout", "-q", "-B", name, "main")


def test_a_pull_request_gets_one_diff_comment_kept_up_to_date_and_a_status(harness: BotHarness) -> None:
    repo = harness.repo
    _branch(repo, "feature")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    first = repo.commit("scale word-count")
    answer = harness.send_pull_request("opened", 7, first)
    assert answer.status_code == 202
    assert answer.json()["status"] == "queued"
    assert harness.final_status(first) == harness.forge.success
    (comment,) = harness.bot_comments(7)
    assert comment.startswith(f"{MARKER} part 1/1 -->")
    assert "word-count" in comment
    assert "replicaCount" in comment or "replicas" in comment
    statuses = harness.forge.statuses(first)
    assert [s.state for s in statuses] == ["pending", harness.forge.success]
    assert {s.name for s in statuses} == {"kpops-bot"}

    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 1")  # Kafka cannot do this: danger
    second = repo.commit("fewer partitions")
    assert harness.send_pull_request("updated", 7, second).status_code == 202
    assert harness.final_status(second) == harness.forge.failure
    (updated,) = harness.bot_comments(7)  # the same single comment, edited
    assert updated != comment
    assert "partitions" in updated.lower()
    assert harness.forge.statuses(second)[-1].description.startswith("Blocking risk")

    repo.git("checkout", "main", "--", WORD_COUNT)
    third = repo.commit("back to main's word-count")
    harness.send_pull_request("updated", 7, third)
    assert harness.final_status(third) == harness.forge.success
    (nothing,) = harness.bot_comments(7)
    assert "no pipeline affected" in nothing

    harness.send_pull_request("closed", 7, third)
    wait_for("the comment marked outdated", lambda: "Outdated" in harness.bot_comments(7)[0])
    assert len(harness.bot_comments(7)) == 1


def test_a_pull_request_that_affects_no_pipeline_gets_a_status_and_no_comment(harness: BotHarness) -> None:
    repo = harness.repo
    _branch(repo, "docs")
    repo.write("README.md", "Only documentation changes here.\n")
    sha = repo.commit("docs")
    harness.send_pull_request("opened", 3, sha)
    assert harness.final_status(sha) == harness.forge.success
    assert harness.forge.statuses(sha)[-1].description == "No pipeline affected"
    assert harness.bot_comments(3) == []


def test_a_head_that_fails_to_render_fails_the_status_and_says_where(harness: BotHarness) -> None:
    repo = harness.repo
    _branch(repo, "broken")
    repo.replace(ORDERS, "RATE: 100", "RATE: [100")
    sha = repo.commit("broken yaml")
    harness.send_pull_request("opened", 4, sha)
    assert harness.final_status(sha) == harness.forge.failure
    (comment,) = harness.bot_comments(4)
    assert "team-a-orders" in comment
    assert "pipeline.yaml" in comment
    assert "Traceback" not in comment


def test_a_delivery_sent_twice_makes_one_job_and_one_comment(harness: BotHarness) -> None:
    repo = harness.repo
    _branch(repo, "feature")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    sha = repo.commit("scale")
    first = harness.send_pull_request("opened", 9, sha, delivery="delivery-9")
    second = harness.send_pull_request("opened", 9, sha, delivery="delivery-9")
    assert (first.json()["status"], second.json()["status"]) == ("queued", "duplicate")
    assert second.json()["job"] == first.json()["job"]
    harness.final_status(sha)
    assert len(harness.bot_comments(9)) == 1
    store = harness.bot.services.store
    wait_for("the one job done", lambda: [job.state for job in store.jobs()] == [JobState.DONE])  # after the status


def test_the_forge_answering_502_and_429_for_a_while_still_gets_the_comment(harness: BotHarness) -> None:
    repo = harness.repo
    _branch(repo, "feature")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 6")
    sha = repo.commit("scale")
    harness.forge.faults.add(502, count=3)
    harness.forge.faults.add(429, count=2, headers={"Retry-After": "1"})
    harness.forge.faults.add(502, count=2)
    harness.send_pull_request("opened", 11, sha)
    assert harness.final_status(sha) == harness.forge.success
    assert len(harness.bot_comments(11)) == 1
    assert sum(entry.status in (429, 502) for entry in harness.forge.log) == 7


def test_the_repository_file_is_read_from_the_base_branch_only(harness: BotHarness) -> None:
    repo = harness.repo
    repo.write(".kpops-bot.yaml", "environments: {main: [prod]}\n")
    repo.commit("bot settings on main")
    _branch(repo, "feature")
    repo.write(".kpops-bot.yaml", "previews: false\n")  # a pull request cannot switch its own review off
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    sha = repo.commit("scale, and try to silence the bot")
    harness.send_pull_request("opened", 21, sha)
    assert harness.final_status(sha) == harness.forge.success
    (comment,) = harness.bot_comments(21)
    assert "prod" in comment  # the base branch's environment mapping was used


def test_an_invalid_repository_file_is_answered_on_the_pull_request(harness: BotHarness) -> None:
    repo = harness.repo
    repo.write(".kpops-bot.yaml", "previews: maybe\n")
    repo.commit("broken bot settings on main")
    _branch(repo, "feature")
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    sha = repo.commit("scale")
    harness.send_pull_request("opened", 22, sha)
    assert harness.final_status(sha) == ("error" if harness.forge.forge is Forge.GITHUB else "failed")
    (comment,) = harness.bot_comments(22)
    assert ".kpops-bot.yaml: previews" in comment
    assert "Traceback" not in comment
