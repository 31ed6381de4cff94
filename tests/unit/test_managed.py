"""managed mode up to the kpops process boundary: real kpops, run with the deployment credentials, against a
loopback Kafka REST proxy that answers as a broken cluster would. There is no cluster here; what kpops sends and
what the bot reports of it is what these tests check.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.managed import Isolation, KpopsRun, ManagedSettings, run_kpops
from kpops_bot.masking import Masker
from kpops_bot.model.render import Operation
from kpops_bot.playground.asgi_server import ThreadedServer
from kpops_bot.report.identity import answer_of
from kpops_bot.sandbox.layers import Layer
from kpops_bot.settings import OperationMode
from testbed.harness import BotHarness, running_bot, wait_for
from testbed.repos import GitRepo
from tests.support.hostile import processes_with

SECRET = "s3cr3t-kafka-pw"
WORD_COUNT = "pipelines/word-count/pipeline.yaml"


@dataclass
class KafkaRestProxy:
    """Answers like a REST proxy whose cluster is down; the error names a credential, as real ones can."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    def asgi(self) -> Starlette:
        async def answer(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            message = f"cluster unavailable: SASL authentication with password {SECRET} failed"
            return JSONResponse({"error_code": 50001, "message": message}, 500)

        return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST", "DELETE"])])


@pytest.fixture
def proxy() -> Iterator[tuple[KafkaRestProxy, str]]:
    fake = KafkaRestProxy()
    with ThreadedServer(fake.asgi()) as server:
        yield fake, server.url


def _credentials(url: str) -> dict[str, Any]:
    return {"KPOPS_KAFKA_REST__URL": url, "KAFKA_SASL_PASSWORD": SECRET}


@pytest.mark.kpops  # real kpops runs
def test_kpops_runs_with_the_credentials_and_its_output_comes_back_masked(
    proxy: tuple[KafkaRestProxy, str], deployment_repo: GitRepo
) -> None:
    fake, url = proxy
    settings = ManagedSettings(credentials=_credentials(url))
    run = KpopsRun(Operation.DEPLOY, WORD_COUNT, environment="dev", steps=("data-producer",))
    env = EngineSettings().kpops_environment()
    outcome = run_kpops(deployment_repo.path, run, settings, env, Masker.create(), Isolation(Layer.NAMESPACES))
    assert outcome.command == (
        "kpops deploy pipelines/word-count/pipeline.yaml --config . --operation-mode managed "
        "--environment dev --steps data-producer --execute"
    )
    assert fake.requests[0] == ("GET", "/v3/clusters")  # kpops reached the cluster named by the credentials
    assert outcome.returncode == 1 and not outcome.ok
    assert "cluster unavailable" in outcome.output
    assert SECRET not in outcome.output and "***" in outcome.output
    assert "\x1b[" not in outcome.output  # no colour codes in what people read
    assert sorted(deployment_repo.path.parent.iterdir()) == [deployment_repo.path]  # nothing left beside it


@pytest.mark.subprocess  # a stand-in kpops and a hanging one, each a process
def test_kpops_dry_run_is_kpops_own_and_a_hanging_kpops_is_killed(deployment_repo: GitRepo, tmp_path: Path) -> None:
    assert KpopsRun(Operation.RESET, WORD_COUNT, execute=False).arguments()[-1] == "--dry-run"
    sleeper = tmp_path / "kpops"
    sleeper.write_text("#!/bin/sh\nsleep 30\n")
    sleeper.chmod(0o755)
    settings = ManagedSettings(kpops_command=[str(sleeper)], timeout=0.5)
    run = KpopsRun(Operation.DESTROY, WORD_COUNT)
    outcome = run_kpops(deployment_repo.path, run, settings, {}, Masker.create(), Isolation(Layer.NAMESPACES))
    assert outcome.returncode is None and "killed after" in outcome.output


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def harness(
    request: pytest.FixtureRequest,
    engine_settings: EngineSettings,
    tmp_path: Path,
    deployment_repo: GitRepo,
    proxy: tuple[KafkaRestProxy, str],
) -> Iterator[BotHarness]:
    bare = deployment_repo.with_origin(tmp_path / "remote.git")
    deployment_repo.git("fetch", "-q", "origin")
    with running_bot(
        request.param,
        engine_settings,
        tmp_path,
        deployment_repo,
        remote=bare,
        environments={"main": ["dev"]},
        operation_mode=OperationMode.MANAGED,
        managed=ManagedSettings(credentials=_credentials(proxy[1])),
    ) as running:
        yield running


def _answers(harness: BotHarness, number: int, count: int) -> list[str]:
    def answers() -> list[str] | None:
        found = [body for body in harness.bot_comments(number) if answer_of(body) is not None]
        return found if len(found) >= count else None

    return wait_for(f"{count} answer(s)", answers)


def test_managed_commands_and_apply_run_kpops_and_report_its_outcome(
    harness: BotHarness, proxy: tuple[KafkaRestProxy, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake, _ = proxy
    repo = harness.repo
    repo.git("checkout", "-q", "-B", "scale", "origin/main")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    head = repo.commit("more partitions")
    repo.git("push", "-q", "origin", "scale")
    harness.forge.pulls.open(1, head, head_ref="scale")

    harness.send_comment(1, "alice", "/kpops deploy word-count")
    (answer,) = _answers(harness, 1, 1)
    assert "$ kpops deploy pipelines/word-count/pipeline.yaml --config . --operation-mode managed" in answer
    assert "--environment dev --execute" in answer
    assert f"`{head[:12]}`" in answer  # deploy acts on the pull request's head
    assert "kpops failed (exit code 1)" in answer and "cluster unavailable" in answer
    assert SECRET not in answer
    assert ("GET", "/v3/clusters") in fake.requests

    harness.send_comment(1, "carol", "/kpops reset word-count --dry-run")
    dry = _answers(harness, 1, 2)[1]
    assert "--dry-run" in dry and "**Dry run**" in dry
    base = repo.git("rev-parse", "origin/main")
    assert f"`{base[:12]}`" in dry  # reset acts on what is deployed: the base branch

    repo.git("checkout", "-q", "-B", "main", "origin/main")
    repo.git("merge", "-q", "--no-ff", "scale", "-m", "Merge pull request 1")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "main")
    harness.forge.pulls.merge(1, merge)
    harness.send_pull_request("merged", 1, head, merge_commit_sha=merge, head_ref="scale")
    assert harness.final_status(merge) == harness.forge.failure
    applied = _answers(harness, 1, 3)[2]
    assert "apply of" in applied and "failed" in applied
    assert "$ kpops deploy pipelines/word-count/pipeline.yaml" in applied and SECRET not in applied
    assert SECRET not in caplog.text


@pytest.mark.subprocess  # bwrap and a fork bomb in it
def test_the_processes_of_managed_kpops_are_bounded(deployment_repo: GitRepo) -> None:
    """A custom component's fork bomb, as kpops would run it: it meets the `processes` bound, and nothing it
    started outlives the run."""
    marker = f"60.{uuid.uuid4().int % 10**9:09d}"  # this run's own: other processes of the machine may sleep 60
    bomb = deployment_repo.path / "bomb.py"  # repository code, as a custom component is
    bomb.write_text(
        "import subprocess\nstarted = 0\nfor _ in range(300):\n    try:\n"
        f"        subprocess.Popen(['sleep', '{marker}'])\n    except OSError:\n        break\n    started += 1\n"
        "print(f'started={started}', flush=True)\n"
    )
    settings = ManagedSettings(kpops_command=[sys.executable, str(bomb)], processes=40, timeout=60)
    run = KpopsRun(Operation.DEPLOY, WORD_COUNT)
    outcome = run_kpops(deployment_repo.path, run, settings, {}, Masker.create(), Isolation(Layer.NAMESPACES))
    started = int(next(line for line in outcome.output.splitlines() if line.startswith("started=")).split("=")[1])
    assert started < 40, outcome.output
    assert started > 0, outcome.output
    assert processes_with(f"sleep {marker}") == [], "every process of the run ends with it"
