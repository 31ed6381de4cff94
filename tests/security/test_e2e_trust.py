"""End to end on both forges: a fork's or an unapproved head does not run through any command, dry runs included."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpops_bot.commands.authorize import CommandPolicy
from kpops_bot.commands.parse import CommandName
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.jobs import JobKind
from kpops_bot.managed import ManagedSettings
from kpops_bot.settings import OperationMode
from kpops_bot.store import JobState
from testbed.harness import BotHarness, harness_fixture, running_bot, wait_for
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"


harness = harness_fixture(environments={"main": ["dev"]}, commands=CommandPolicy(require_approval=[CommandName.DEPLOY]))


def _push(harness: BotHarness, branch: str, replica_count: int) -> str:
    repo = harness.repo
    repo.replace(
        WORD_COUNT, "replicaCount: 2" if replica_count == 3 else "replicaCount: 3", f"replicaCount: {replica_count}"
    )
    head = repo.commit(f"scale to {replica_count}")
    repo.git("push", "-q", "origin", branch)
    return head


def _answer(harness: BotHarness, number: int, comment: str, author: str = "alice") -> str:
    """The bot's answer to one more comment on the pull request."""
    before = len(harness.bot_comments(number))
    harness.send_comment(number, author, comment)

    def answered() -> str | None:
        bodies = harness.bot_comments(number)
        return bodies[-1] if len(bodies) > before else None

    return wait_for("the answer", answered)


def _renders(harness: BotHarness) -> int:
    """Renders the bot made (every finished render is cached)."""
    return sum(1 for _ in (harness.bot.services.settings.data_dir / "render-cache").rglob("*.json"))


def test_a_forks_head_runs_through_no_command(harness: BotHarness) -> None:
    harness.repo.git("checkout", "-q", "-b", "fork-branch")
    head = _push(harness, "fork-branch", 3)
    harness.forge.pulls.open(1, head, head_ref="fork-branch", fork=True)
    harness.send_pull_request("opened", 1, head, head_ref="fork-branch", fork=True)
    assert harness.final_status(head) == harness.forge.success  # "not previewed"
    answer = _answer(harness, 1, "/kpops deploy word-count --dry-run\n/kpops diff word-count\n/kpops deploy word-count")
    assert answer.count("pull requests from forks are not rendered on this bot") == 2
    assert "`deploy` does not run a fork's head" in answer
    assert "✅" not in answer
    assert _renders(harness) == 0


def test_only_an_approval_on_the_current_head_by_a_writer_lets_deploy_run(harness: BotHarness) -> None:
    harness.repo.git("checkout", "-q", "-b", "scale")
    head = _push(harness, "scale", 3)
    harness.forge.pulls.open(2, head, head_ref="scale")
    pulls = harness.forge.pulls
    pulls.approve(2, "bob")  # read permission: does not count
    refused = _answer(harness, 2, "/kpops deploy word-count\n/kpops deploy word-count --dry-run")
    assert refused.count("runs only an approved head; it has no approval on its current commit") == 1
    assert "`deploy` runs only an approved head" in refused
    pulls.approve(2, "carol")  # maintain: counts, until the next push
    newer = _push(harness, "scale", 4)
    pulls.push(2, newer)
    assert "`deploy` runs only an approved head" in _answer(harness, 2, "/kpops deploy word-count")
    pulls.approve(2, "carol")
    deployed = _answer(harness, 2, "/kpops deploy word-count")
    assert _renders(harness) > 0
    assert "runs only an approved head" not in deployed
    assert "manifest(s) in `rendered/dev/word-count/`" in deployed
    done = [job for job in harness.bot.services.store.jobs() if job.kind == JobKind.COMMAND]
    assert all(job.state is JobState.DONE for job in done)


@pytest.mark.parametrize("forge", [Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def test_a_managed_dry_run_of_an_unapproved_or_forked_head_runs_no_kpops(
    forge: Forge, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    credentials = {"KPOPS_KAFKA_BROKERS": "kafka:9092", "KAFKA_PASSWORD": "deployment-secret-4711"}
    with running_bot(
        forge,
        engine_settings,
        tmp_path,
        deployment_repo,
        operation_mode=OperationMode.MANAGED,
        environments={"main": ["dev"]},
        commands=CommandPolicy(require_approval=[CommandName.DEPLOY]),
        managed=ManagedSettings(credentials=credentials),
    ) as harness:
        deployment_repo.git("checkout", "-q", "-b", "scale")
        head = deployment_repo.commit("an unapproved head")
        harness.forge.pulls.open(1, head, head_ref="scale")
        unapproved = _answer(harness, 1, "/kpops deploy word-count --dry-run")
        harness.forge.pulls.open(2, head, head_ref="scale", fork=True)
        harness.forge.pulls.approve(2, "carol")
        forked = _answer(harness, 2, "/kpops deploy word-count --dry-run")
    assert "`deploy --dry-run` runs only an approved head" in unapproved
    assert "`deploy --dry-run` does not run a fork's head" in forked
    for answer in (unapproved, forked):
        assert "$ kpops" not in answer and "deployment-secret-4711" not in answer
