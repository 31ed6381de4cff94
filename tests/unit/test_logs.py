"""The JSON log format: one object a line, a job's lines name the job, repository and pull request, secrets masked
in the message and in the exception text."""

from __future__ import annotations

import functools
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kpops_bot.logs import LogFormat, handler
from kpops_bot.masking import MaskingFilter
from kpops_bot.playground.asgi_server import free_port
from kpops_bot.settings import BotSettings
from kpops_bot.store import JobState, Store
from kpops_bot.worker import Worker, WorkerOptions
from testbed.harness import wait_for
from tests.support.workflow_kit import queued

TOKEN = "ghp_forge-token-never-logged"


class _LeakyHandler:
    """A workflow that logs and fails with the forge token in its words."""

    def run(self, job: object) -> str:
        logging.getLogger("kpops_bot.workflows.test").info("calling the forge with %s", TOKEN)
        raise RuntimeError(f"the forge refused token {TOKEN}")

    def give_up(self, job: object, error: BaseException) -> None:
        logging.getLogger("kpops_bot.workflows.test").error("giving up", exc_info=error)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    settings = BotSettings(github={"token": TOKEN})  # type: ignore[arg-type]
    json_handler = handler(LogFormat.JSON, stream)
    json_handler.addFilter(MaskingFilter(settings.secrets_masker()))
    logger = logging.getLogger("kpops_bot")
    logger.addHandler(json_handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(json_handler)
        logger.setLevel(level)


def test_a_jobs_lines_carry_its_fields_and_no_secret(json_lines: io.StringIO, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    worker = Worker(
        store, {"preview": _LeakyHandler()}, WorkerOptions(concurrency=1, max_attempts=1, poll_interval=0.05)
    )
    job_id = store.enqueue(queued("github:acme/deployments#7", "preview"))
    worker.start()
    try:
        wait_for("the job given up", lambda: store.job(job_id).state is JobState.FAILED, timeout=30)
    finally:
        worker.stop()
        store.close()
    text = json_lines.getvalue()
    assert TOKEN not in text
    records = [json.loads(line) for line in text.splitlines()]
    of_job = [record for record in records if record.get("job") == job_id]
    messages = [record["message"] for record in of_job]
    assert "calling the forge with ***" in messages
    assert any(
        message.startswith(f"job {job_id} (preview github:acme/deployments#7) failed for good") for message in messages
    )
    for record in of_job:
        assert record["repository"] == "github:acme/deployments"
        assert record["pull_request"] == 7
        assert record["job_kind"] == "preview"
        assert {"time", "level", "logger"} <= record.keys()
    (given_up,) = [record for record in of_job if record["message"] == "giving up"]
    assert "RuntimeError: the forge refused token ***" in given_up["exception"]


def test_lines_outside_a_job_have_no_job_fields(json_lines: io.StringIO) -> None:
    logging.getLogger("kpops_bot.server").warning("started with %s", TOKEN)
    (record,) = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert record["message"] == "started with ***"
    assert record["level"] == "WARNING"
    assert "job" not in record and "repository" not in record


@pytest.mark.bot_process
@pytest.mark.parametrize("intake_processes", [0, 1])
def test_the_access_log_is_written_only_when_asked_for_in_both_layouts(tmp_path: Path, intake_processes: int) -> None:
    """`access_log`: a line per HTTP request from whichever process answered it; off by default."""
    lines = {}
    for access_log in (False, True):
        port = free_port()
        config = tmp_path / f"bot-{access_log}.yaml"
        settings = {
            "data_dir": str(tmp_path / f"data-{access_log}"),
            "port": port,
            "concurrency": 0,
            "intake_processes": intake_processes,
            "access_log": access_log,
            # A token for a forge that does not listen: the start-up check of the credentials stays on loopback.
            "github": {"webhook_secret": "s3cret", "token": "t", "api_url": f"http://127.0.0.1:{free_port()}"},
        }
        config.write_text(json.dumps(settings))
        process = subprocess.Popen(
            [sys.executable, "-m", "kpops_bot", "serve", "--config", str(config)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for("the bot to answer", functools.partial(_answers, f"http://127.0.0.1:{port}/healthz"), timeout=60)
            assert httpx.get(f"http://127.0.0.1:{port}/healthz?marker=probe", timeout=10).status_code == 200
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=60)
        lines[access_log] = [line for line in stderr.decode().splitlines() if "/healthz?marker=probe" in line]
    assert lines[False] == []
    (line,) = lines[True]
    assert '"GET /healthz?marker=probe HTTP/1.1" 200' in line


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
