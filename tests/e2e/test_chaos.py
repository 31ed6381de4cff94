"""Chaos: the bot (`kpops-bot serve`, a process) is killed while each forge write of a preview, a command and an
apply is in flight — the forge stored it but had not answered — and started again. Every time, the restarted bot
takes its job back at once and completes it; in the end the comments, reactions, statuses and commits are exactly
the expected ones: nothing missing, nothing twice."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.playground.asgi_server import free_port
from kpops_bot.report.identity import answer_of, is_part
from kpops_bot.settings import ApplySettings
from kpops_bot.store import JobState, Store
from testbed.forges import running_forge
from testbed.harness import BotProcess, Deliveries, bot_settings, wait_for
from testbed.repos import GitRepo

pytestmark = pytest.mark.bot_process
WORD_COUNT = "pipelines/word-count/pipeline.yaml"
# The forges' paths of each write the workflows make (regular expressions over the request path).
COMMENT = {Forge.GITHUB: r"/issues/\d+/comments$", Forge.GITLAB: r"/merge_requests/\d+/notes$"}
REACTION = {Forge.GITHUB: r"/reactions$", Forge.GITLAB: r"/award_emoji$"}
STATUS = r"/statuses/"


@dataclass
class Chaos:
    """A bot process on a fake forge, and the means to kill it during one write and start it again."""

    deliveries: Deliveries
    bot: BotProcess
    remote: Path
    store: Store

    @property
    def forge(self) -> Forge:
        return self.deliveries.forge.forge

    def killed_during(
        self, pattern: str, stored: Callable[[], object], trigger: Callable[[], object] | None = None
    ) -> None:
        """The next write matching `pattern` is stored and not answered; the bot is killed once it is stored,
        then started again."""
        faults = self.deliveries.forge.faults
        faults.late[pattern] = 120
        if trigger is not None:
            trigger()
        wait_for(f"a write to {pattern} stored", stored, timeout=120)
        self.bot.kill()
        faults.late.clear()
        self.bot.start()

    def settled(self) -> None:
        """Every job finished (none given up)."""
        wait_for(
            "every job done",
            lambda: all(
                job.state is not JobState.QUEUED and job.state is not JobState.RUNNING for job in self.store.jobs()
            ),
            240,
        )
        assert JobState.FAILED not in {job.state for job in self.store.jobs()}

    def commits(self) -> int:
        return int(_git(self.remote, "rev-list", "--count", "main"))

    def answers(self, number: int) -> list[str]:
        return [body for body in self.deliveries.bot_comments(number) if answer_of(body) is not None]

    def reports(self, number: int) -> list[str]:
        return [body for body in self.deliveries.bot_comments(number) if is_part(body)]

    def states(self, sha: str) -> list[str]:
        return [status.state for status in self.deliveries.forge.statuses(sha)]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def chaos(forge: Forge, engine: EngineSettings, tmp_path: Path, repo: GitRepo) -> Iterator[Chaos]:
    bare = repo.with_origin(tmp_path / "remote.git")
    with running_forge(forge, bare, {"alice": "write"}) as running:
        settings = bot_settings(
            engine,
            running,
            tmp_path / "bot-data",
            port=free_port(),
            environments={"main": ["dev"]},
            apply=ApplySettings(push_branches=["main"]),
            lease_seconds=600,  # only the restarted replica's taking back can resume the job in time
        )
        bot = BotProcess(settings, tmp_path / "bot.yaml").start()
        store = Store(settings.database)
        try:
            yield Chaos(Deliveries(running, repo, bot.url, bare), bot, bare, store)
        finally:
            bot.stop()
            store.close()


def _open(chaos: Chaos, number: int) -> str:
    repo = chaos.deliveries.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "scale", "origin/main")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    head = repo.commit("scale word-count")
    repo.git("push", "-q", "origin", "scale")
    chaos.deliveries.forge.pulls.open(number, head, head_ref="scale")
    return head


def _merge(chaos: Chaos, number: int) -> str:
    repo = chaos.deliveries.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "main", "origin/main")
    repo.git("merge", "-q", "--no-ff", "scale", "-m", f"Merge pull request {number} from scale")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "main")
    chaos.deliveries.forge.pulls.merge(number, merge)
    return merge


@pytest.mark.parametrize("forge", [Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def test_killed_during_every_forge_write_the_bot_writes_everything_exactly_once(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, forge: Forge
) -> None:
    with chaos(forge, engine_settings, tmp_path, deployment_repo) as bot:
        deliveries, number = bot.deliveries, 3
        success = deliveries.forge.success

        # Preview: its pending status, its sticky report, its final status.
        head = _open(bot, number)
        bot.killed_during(
            STATUS,
            lambda: bot.states(head),
            lambda: deliveries.send_pull_request("opened", number, head, head_ref="scale"),
        )
        bot.killed_during(COMMENT[forge], lambda: bot.reports(number))
        bot.killed_during(STATUS, lambda: bot.states(head)[-1:] == [success])
        bot.settled()
        assert len(bot.reports(number)) == 1
        assert "| `word-count` | `dev` | changed |" in bot.reports(number)[0]
        assert bot.states(head) == ["pending", success]

        # A command: its reaction, (its GitOps commit,) its answer.
        commits = bot.commits()
        sent: list[int] = []

        def reacted() -> bool:
            return any(c.reactions for c in deliveries.forge.comments(number) if c.id in sent)

        bot.killed_during(
            REACTION[forge],
            reacted,
            lambda: sent.append(deliveries.send_comment(number, "alice", "/kpops reset word-count")),
        )
        bot.killed_during(COMMENT[forge], lambda: bot.answers(number))
        bot.settled()
        (answer,) = bot.answers(number)
        assert "reset" in answer and "❌" not in answer
        (command,) = [c for c in deliveries.forge.comments(number) if c.id in sent]
        assert command.reactions == ["eyes"]
        assert bot.commits() == commits + 1  # the reset's one-off jobs, committed once

        # The merge applied: its pending status, (its GitOps commit,) its answer, its final status.
        merge = _merge(bot, number)
        commits = bot.commits()
        bot.killed_during(
            STATUS,
            lambda: bot.states(merge),
            lambda: deliveries.send_pull_request("merged", number, head, head_ref="scale", merge_commit_sha=merge),
        )
        bot.killed_during(COMMENT[forge], lambda: len(bot.answers(number)) == 2)
        bot.killed_during(STATUS, lambda: bot.states(merge)[-1:] == [success])
        bot.settled()
        assert len(bot.answers(number)) == 2
        assert "applied" in bot.answers(number)[1]
        assert bot.states(merge) == ["pending", success]
        assert bot.commits() == commits + 1  # the apply's manifests, committed once

        # The same merge delivered again under a new delivery id: nothing applied, nothing answered.
        deliveries.send_pull_request("merged", number, head, head_ref="scale", merge_commit_sha=merge, delivery="again")
        bot.settled()
        assert len(bot.answers(number)) == 2
        assert bot.states(merge) == ["pending", success]
        assert bot.commits() == commits + 1
