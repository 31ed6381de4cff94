"""Drift: the pure comparison, the issue's texts (golden), and end to end on the fake GitHub: a hand edit in the
GitOps target opens one drift issue, a second check keeps it, reverting the edit closes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kpops_bot.drift import Drift, DriftKind, compare
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge, Repository
from kpops_bot.forges.urls import clone_url
from kpops_bot.report import drift as drift_text
from kpops_bot.store import JobState
from kpops_bot.workflows.lookups import gitops_target, repository_settings
from kpops_bot.workflows.publishing import commit_message
from testbed.harness import BotHarness, running_bot, wait_for
from testbed.repos import GitRepo
from tests.support.golden import check_golden

FULL_NAMES = {Forge.GITHUB: "acme/deployments", Forge.GITLAB: "acme/platform/deployments"}
COUNTER = "rendered/dev/word-count/deployment-word-count-word-counter.yaml"


def test_compare_names_every_difference() -> None:
    expected = {"r/dev/a": {"x.yaml": "1\n", "y.yaml": "2\n"}, "r/dev/b": {"z.yaml": "3\n"}}
    actual = {"r/dev/a": {"x.yaml": "1\n", "y.yaml": "two\n", "w.yaml": "4\n"}, "r/dev/c": {"q.yaml": "5\n"}}
    assert compare(expected, actual) == [
        Drift("r/dev/a", "w.yaml", DriftKind.UNEXPECTED, actual="4\n"),
        Drift("r/dev/a", "y.yaml", DriftKind.CHANGED, expected="2\n", actual="two\n"),
        Drift("r/dev/b", None, DriftKind.MISSING),
        Drift("r/dev/c", None, DriftKind.UNEXPECTED),
    ]
    assert compare(expected, expected) == []


def test_the_issue_texts() -> None:
    drifts = compare(
        {"rendered/dev/word-count": {"deployment-a.yaml": "spec:\n  replicas: 1\n"}, "rendered/dev/gone": {}},
        {"rendered/dev/word-count": {"deployment-a.yaml": "spec:\n  replicas: 5\n"}, "rendered/dev/old": {}},
    )
    body = drift_text.drifted("main", "0123456789abcdef", "main:rendered", drifts, ["`orders` (dev): it failed"])
    check_golden("bot/drift-issue.md", body)
    check_golden("bot/drift-resolved.md", drift_text.resolved("main", "fedcba9876543210", body))
    assert drift_text.title("main") == "kpops-bot: the GitOps target drifted from `main`"


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def harness(
    request: pytest.FixtureRequest, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> Iterator[BotHarness]:
    bare = deployment_repo.with_origin(tmp_path / "remote.git")
    forge: Forge = request.param
    schedule = [{"repository": f"{forge.value}:{FULL_NAMES[forge]}", "branch": "main", "every_minutes": 60}]
    with running_bot(
        forge,
        engine_settings,
        tmp_path,
        deployment_repo,
        remote=bare,
        environments={"main": ["dev"]},
        drift=schedule,
    ) as running:
        yield running


def _publish_everything(harness: BotHarness) -> None:
    """The target in sync, written by the bot's own render and publish (as applies of every pipeline would)."""
    bot = harness.bot
    forge, full_name = harness.forge.forge, harness.forge.repository.full_name
    client = bot.services.forges.get(forge)
    repository = Repository(forge, full_name, clone_url(forge, bot.settings, full_name))
    config = repository_settings(bot.settings, client, repository, "main", "main")
    deployment = bot.services.open_repository(repository, client)
    commit = deployment.resolve("main")
    results = deployment.render_everything(commit, config, bot.settings.secrets_masker())
    assert all(result.ok for result in results)
    writes = [result.write for result in results if result.write is not None]
    target = gitops_target(bot.settings, client, repository, "main")
    deployment.publish(target, writes, commit_message("kpops-bot: everything", [], commit))


_checks = iter(range(1, 1000))


def _check(harness: BotHarness) -> str:
    """One drift check, as the clock queues it when due; its outcome."""
    store = harness.bot.services.store
    (job_id,) = harness.bot.drift_clock.tick(time.time() + next(_checks) * 3600)

    def finished() -> str | None:
        job = store.job(job_id)
        assert job.state is not JobState.FAILED, job.outcome
        return job.outcome if job.state is JobState.DONE else None

    return wait_for("the drift check", finished)


def _issues(harness: BotHarness) -> list[dict[str, Any]]:
    """The repository's issues as the forge's API lists them to anyone, oldest first, in GitHub's words."""
    forge = harness.forge
    if forge.forge is Forge.GITHUB:
        answer = httpx.get(
            f"{forge.url}/repos/{forge.repository.full_name}/issues",
            params={"state": "all", "direction": "asc"},
            headers={"Authorization": "token bot-token"},
        )
        answer.raise_for_status()
        return list(answer.json())
    answer = httpx.get(
        f"{forge.url}/api/v4/projects/{forge.repository.project_id}/issues",
        params={"state": "all", "sort": "asc"},
        headers={"PRIVATE-TOKEN": "bot-token"},
    )
    answer.raise_for_status()
    return [
        {
            "number": issue["iid"],
            "state": "open" if issue["state"] == "opened" else "closed",
            "title": issue["title"],
            "body": issue["description"],
        }
        for issue in answer.json()
    ]


def _push(repo: GitRepo, message: str) -> None:
    repo.commit(message)
    repo.git("push", "-q", "origin", "HEAD:main")


def _first_check(harness: BotHarness) -> str:
    """The check the bot queues by itself when it starts."""
    store = harness.bot.services.store

    def finished() -> str | None:
        jobs = [job for job in store.jobs() if job.kind == "drift"]
        return jobs[0].outcome if jobs and jobs[0].state is JobState.DONE else None

    return wait_for("the drift check queued at start", finished)


def test_a_hand_edit_opens_a_drift_issue_and_reverting_it_closes_it(harness: BotHarness) -> None:
    # Nothing applied yet: every pipeline's folder is missing from the target.
    first, second = (9001, 9002) if harness.forge.forge is Forge.GITHUB else (1, 2)
    assert _first_check(harness).endswith(f"difference(s): issue #{first} opened")
    _publish_everything(harness)
    assert _check(harness) == f"in sync again: issue #{first} closed"
    assert [issue["state"] for issue in _issues(harness)] == ["closed"]
    assert _check(harness) == "in sync"

    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "work", "origin/main")
    original = (repo.path / COUNTER).read_text()
    assert "replicas: " in original
    repo.write(COUNTER, original.replace("replicas: ", "replicas: 4", 1))
    _push(repo, "scale by hand in the GitOps folder")

    assert _check(harness) == f"1 difference(s): issue #{second} opened"
    issue = _issues(harness)[-1]
    assert issue["number"] == second
    assert issue["state"] == "open"
    assert issue["title"] == "kpops-bot: the GitOps target drifted from `main`"
    assert f"| `{COUNTER}` | differs from the render |" in issue["body"]
    assert "\n+  replicas: 4" in issue["body"]

    assert _check(harness) == f"1 difference(s): issue #{second} up to date"
    assert len(_issues(harness)) == 2  # kept, never another one

    repo.write(COUNTER, original)
    _push(repo, "undo the hand edit")
    assert _check(harness) == f"in sync again: issue #{second} closed"
    closed = _issues(harness)[-1]
    assert closed["state"] == "closed"
    assert closed["body"].splitlines()[1].startswith("✅ The GitOps target matches `main` again")
