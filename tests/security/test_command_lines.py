"""No secret on a command line: `/proc/<pid>/cmdline` is readable by every local user for a process's lifetime.

Managed credentials and `pass_env` values went to bubblewrap as `--setenv NAME VALUE`, so `ps` showed
`KAFKA_SASL_PASSWORD`, and the fork server kept showing the render variables for the bot's lifetime. They now reach
a process through its environment alone (readable only by its own uid). The tests read the command line of every
process this test process started (its own descendants, never the machine's) while a managed run is held open and
while a render pool serves.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.managed import Isolation, KpopsOutcome, KpopsRun, ManagedSettings, run_kpops
from kpops_bot.masking import Masker
from kpops_bot.model.render import Operation
from kpops_bot.sandbox.layers import Layer
from testbed.repos import GitRepo

PASSWORD = "kafka-sasl-pw-4b1d7e"
PASSED = "passed-env-value-9c2f11"
VARIABLE = "fixed-variable-value-77aa03"
PASSED_NAME = "KPOPS_BOT_TEST_CMDLINE_SECRET"


def descendants(root: int) -> dict[int, bytes]:
    """The command lines of every live process below `root` (from /proc: parent links only)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: dict[int, bytes] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, its_parent in parents.items():
            if its_parent == parent and pid not in found:
                try:
                    found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                frontier.append(pid)
    return found


def leaked(command_lines: dict[int, bytes], *secrets: str) -> list[tuple[int, str]]:
    return [(pid, secret) for pid, line in command_lines.items() for secret in secrets if secret.encode() in line]


@pytest.mark.subprocess  # bwrap and a stand-in kpops
@pytest.mark.timeout(120)
def test_a_managed_run_shows_no_credential_or_passed_value_on_any_command_line(
    deployment_repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSED_NAME, PASSED)
    # FIFOs in the checkout (the sandbox binds it) hold the run open until the test has looked, without polling.
    started, release = deployment_repo.path / "started.fifo", deployment_repo.path / "release.fifo"
    os.mkfifo(started)
    os.mkfifo(release)
    kpops = tmp_path / "kpops"
    kpops.write_text(f'#!/bin/sh\necho "$KAFKA_SASL_PASSWORD" > {started}\nread line < {release}\n')
    kpops.chmod(0o755)
    settings = ManagedSettings(kpops_command=[str(kpops)], credentials={"KAFKA_SASL_PASSWORD": PASSWORD}, timeout=60)
    env = EngineSettings(pass_env=[PASSED_NAME], variables={"X_FIXED": VARIABLE}).kpops_environment()
    outcomes: list[KpopsOutcome] = []

    def run() -> None:
        outcomes.append(
            run_kpops(
                deployment_repo.path,
                KpopsRun(Operation.DEPLOY, "pipelines/word-count/pipeline.yaml"),
                settings,
                env,
                Masker.create(),
                Isolation(Layer.NAMESPACES),
            )
        )

    runner = threading.Thread(target=run)
    # Opened read-write, neither end ever blocks: "go" waits in the pipe for the run, or ends with it unread.
    releasing = os.open(release, os.O_RDWR)
    listening = os.open(started, os.O_RDWR)
    runner.start()
    try:
        with os.fdopen(os.dup(listening), "rb") as heard:
            assert heard.readline().strip() == PASSWORD.encode()  # the run has its credential, in its environment
        command_lines = descendants(os.getpid())
    finally:
        os.write(releasing, b"go\n")
        runner.join(timeout=90)
        os.close(releasing)
        os.close(listening)
    assert any(b"bwrap" in line for line in command_lines.values()), command_lines  # the sandbox was looked at
    assert leaked(command_lines, PASSWORD, PASSED, VARIABLE) == []
    assert outcomes[0].returncode == 0, outcomes[0].output


@pytest.mark.timeout(300)
def test_a_render_pool_shows_no_passed_value_on_any_command_line(
    engine_settings: EngineSettings, deployment_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSED_NAME, PASSED)
    settings = engine_settings.model_copy(update={"pass_env": [PASSED_NAME], "variables": {"X_FIXED": VARIABLE}})
    request = RenderRequest("word-count", "pipelines/word-count/pipeline.yaml", deployment_repo.path, "HEAD")
    with RenderPool(settings, checkouts=[deployment_repo.path.parent]) as pool:
        result = pool.render(request)
        command_lines = descendants(os.getpid())  # the fork server and the helm service live as long as the pool
    assert result.error is None, result.error
    assert any(b"kpops_bot.engine.zygote" in line for line in command_lines.values()), command_lines
    assert leaked(command_lines, PASSED, VARIABLE) == []
