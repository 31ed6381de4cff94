"""The held-out fault through `kpops-bot serve`: the forge stores a preview's report, answers after the bot's
timeout, then answers 502 to everything for a while. The bot looks before it writes again: one report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.playground.asgi_server import free_port
from testbed.forges import running_forge
from testbed.harness import BotProcess, Deliveries, bot_settings
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
COMMENT = {Forge.GITHUB: r"/issues/\d+/comments$", Forge.GITLAB: r"/merge_requests/\d+/notes$"}
TIMEOUT = 2.0  # the bot's seconds per forge request
HELD = 6.0  # seconds the fake holds the answer to the stored report: beyond the bot's timeout
OUTAGE = 12.0  # seconds of 502 from when the report is stored: the bot's first looks meet it, also on a busy machine


@pytest.mark.parametrize("forge", [Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def test_a_report_stored_answered_late_then_failed_for_a_while_is_posted_once(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, forge: Forge
) -> None:
    deployment_repo.git("checkout", "-q", "-B", "feature", "main")
    deployment_repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 7")
    head = deployment_repo.commit("scale word-count to 7")
    with running_forge(forge, deployment_repo.path / ".git", {"alice": "write"}) as running:
        settings = bot_settings(engine_settings, running, tmp_path / "bot-data", port=free_port())
        key = "github" if forge is Forge.GITHUB else "gitlab"
        short = getattr(settings, key).model_copy(update={"timeout": TIMEOUT})
        settings = settings.model_copy(update={key: short})
        running.faults.late[COMMENT[forge]] = HELD
        running.faults.fail_after_write(COMMENT[forge], OUTAGE)
        bot = BotProcess(settings, tmp_path / "bot.yaml").start()
        try:
            deliveries = Deliveries(running, deployment_repo, bot.url, deployment_repo.path)
            deliveries.send_pull_request("opened", 5, head)
            assert deliveries.final_status(head) == running.success
            (report,) = deliveries.bot_comments(5)
            assert "+  replicas: 7\n" in report
            writes = [
                entry for entry in running.log if entry.method == "POST" and re.search(COMMENT[forge], entry.path)
            ]
            assert len(writes) == 1  # looked for it through the 502s, never sent again
            assert any(entry.status == 502 for entry in running.log)  # the outage was met
        finally:
            running.faults.late.clear()
            bot.stop()
