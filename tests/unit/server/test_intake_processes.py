"""`intake_processes`: webhooks taken by processes beside the bot's, one real `kpops-bot serve` each test.

Deliveries through any intake process are stored once by the bot's process and worked on at once; what the bot's
process serves (status page, metrics, readiness) answers through the port all the same; an intake process that
dies is replaced while the port keeps answering, and none outlives the bot.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.playground.asgi_server import free_port
from kpops_bot.server.intake_process import FORWARDED_BODY_LIMIT
from testbed.deliveries import github_pull_request, send_github
from testbed.forges import RunningForge, running_forge
from testbed.harness import SECRET, BotProcess, Deliveries, bot_settings, wait_for
from testbed.repos import GitRepo

pytestmark = pytest.mark.bot_process
STATUS_TOKEN = "status-t0ken"
WORD_COUNT = "pipelines/word-count/pipeline.yaml"


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc: what the bot really started)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _intake_processes(bot: BotProcess) -> set[int]:
    assert bot.process is not None
    return {pid for pid in _children(bot.process.pid) if b"intake_process" in Path(f"/proc/{pid}/cmdline").read_bytes()}


def _deliveries_metric(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    (family,) = [family for family in text_string_to_metric_families(text) if family.name == "kpops_bot_deliveries"]
    return {sample.labels["outcome"]: sample.value for sample in family.samples if sample.name.endswith("_total")}


@contextmanager
def _bot(
    engine: EngineSettings, tmp_path: Path, forge: RunningForge, concurrency: int = 0, processes: int = 2
) -> Iterator[BotProcess]:
    settings = bot_settings(
        engine,
        forge,
        tmp_path / "data",
        port=free_port(),
        concurrency=concurrency,
        intake_processes=processes,
        status_token=STATUS_TOKEN,
    )
    bot = BotProcess(settings, tmp_path / "bot.yaml").start()
    try:
        wait_for(f"{processes} intake processes", lambda: len(_intake_processes(bot)) == processes, timeout=30)
        yield bot
    finally:
        bot.stop()


def test_a_preview_arrives_through_an_intake_process_and_every_answer_is_counted_by_the_bot(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    deployment_repo.git("checkout", "-q", "-B", "feature", "main")
    deployment_repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 5")
    head = deployment_repo.commit("scale word-count")
    with (
        running_forge(Forge.GITHUB, deployment_repo.path / ".git", {"alice": "write"}) as forge,
        _bot(engine_settings, tmp_path, forge, concurrency=1) as bot,
    ):
        deliveries = Deliveries(forge, deployment_repo, bot.url, deployment_repo.path)
        first = deliveries.send_pull_request("opened", 3, head, delivery="delivery-3")
        again = deliveries.send_pull_request("opened", 3, head, delivery="delivery-3")
        assert first.status_code == again.status_code == 202
        assert first.json()["status"] == "queued"
        assert again.json() == {"status": "duplicate", "job": first.json()["job"]}
        assert deliveries.final_status(head) == "success"
        (comment,) = deliveries.bot_comments(3)
        assert "+  replicas: 5\n" in comment
        refused = httpx.post(f"{bot.url}/webhooks/github", content=b"{}", headers={"X-GitHub-Event": "ping"})
        assert refused.status_code == 401
        assert refused.json() == {"error": "signature or token missing or wrong"}

        assert _deliveries_metric(bot.url) == {"queued": 1.0, "duplicate": 1.0, "refused": 1.0}
        page = httpx.get(f"{bot.url}/status", headers={"Authorization": f"Bearer {STATUS_TOKEN}"}, timeout=10)
        assert page.status_code == 200
        answered = page.text[page.text.index('<table id="deliveries">') :].split("</table>")[0]
        rows = [row for row in answered.split("<tr>") if "<code>delivery-3</code>" in row]
        outcomes = sorted(row.split('class="outcome-')[1].split('"')[0] for row in rows)
        assert outcomes == ["duplicate", "queued"]  # both answers, whichever process gave them
        assert httpx.get(f"{bot.url}/status", timeout=10).status_code == 401
        moved = httpx.get(f"{bot.url}/status?token={STATUS_TOKEN}", timeout=10)
        assert moved.status_code == 303
        assert moved.headers["location"] == "/status"
        assert "HttpOnly" in moved.headers["set-cookie"]
        assert json.loads(httpx.get(f"{bot.url}/readyz", timeout=10).text)["status"] == "ready"


def test_an_intake_process_that_dies_is_replaced_while_the_port_keeps_answering(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    with (
        running_forge(Forge.GITHUB, deployment_repo.path / ".git", {}) as forge,
        _bot(engine_settings, tmp_path, forge) as bot,
    ):
        before = _intake_processes(bot)
        for pid in before:  # settings come through a pipe: no secret on a command line
            assert SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        answers: list[int | None] = []  # None: the connection broke (taken by the process killed meanwhile)
        stop = threading.Event()

        def deliver() -> None:
            number = 0
            while not stop.is_set():
                number += 1
                payload = github_pull_request(
                    "opened",
                    number=number % 50 + 1,
                    full_name=forge.repository.full_name,
                    clone_url=str(deployment_repo.path),
                    head_sha=f"{number:040x}",
                )
                try:
                    answers.append(send_github(bot.url, SECRET, "pull_request", payload).status_code)
                except httpx.TransportError:
                    answers.append(None)

        sender = threading.Thread(target=deliver)
        sender.start()
        try:
            killed = min(before)
            os.kill(killed, signal.SIGKILL)
            after = wait_for("a new intake process", lambda: (found := _intake_processes(bot)) - before and found)
            assert len(after) == 2
            assert killed not in after
            replaced_at = len(answers)
            wait_for("deliveries after the replacement", lambda: len(answers) - replaced_at > 5, timeout=60)
        finally:
            stop.set()
            sender.join()
        assert answers.count(None) <= 1  # at most the one the killed process was reading
        assert len(answers[replaced_at:]) > 5
        assert set(answers[replaced_at:]) == {202}
        assert set(answers) - {None} == {202}


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGKILL])
def test_no_intake_process_outlives_the_bot(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, ending: signal.Signals
) -> None:
    with (
        running_forge(Forge.GITHUB, deployment_repo.path / ".git", {}) as forge,
        _bot(engine_settings, tmp_path, forge) as bot,
    ):
        intake = _intake_processes(bot)
        assert bot.process is not None
        bot.process.send_signal(ending)
        bot.process.wait(timeout=60)
        bot.process = None
        wait_for("the intake processes to end", lambda: not any(_alive(pid) for pid in intake), timeout=30)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{bot.url}/healthz", timeout=5)


def _raw_request(url: str, head: bytes, body: bytes) -> bytes:
    """What the port answers to a request written byte by byte (a body that never ends included)."""
    address = httpx.URL(url)
    with socket.create_connection((address.host, address.port), timeout=30) as connection:
        connection.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_the_forwarder_keeps_no_cookie_an_operator_was_given(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    with (
        running_forge(Forge.GITHUB, deployment_repo.path / ".git", {}) as forge,
        _bot(engine_settings, tmp_path, forge, processes=1) as bot,
    ):
        operator = httpx.Client(timeout=10)
        moved = operator.get(f"{bot.url}/status?token={STATUS_TOKEN}")
        assert moved.status_code == 303 and "kpops_bot_status=" in moved.headers["set-cookie"]
        assert operator.get(f"{bot.url}/status").status_code == 200  # the operator's own cookie still works
        for _ in range(5):  # anyone else, through the same intake process, is not the operator
            anonymous = httpx.get(f"{bot.url}/status", timeout=10)
            assert anonymous.status_code == 401, anonymous.text[:200]


def test_a_large_body_on_a_forwarded_path_is_refused_without_being_read(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    with (
        running_forge(Forge.GITHUB, deployment_repo.path / ".git", {}) as forge,
        _bot(engine_settings, tmp_path, forge, processes=1) as bot,
    ):
        # 300 MiB declared, a few bytes sent: the old forwarder waited to read it all (and held what came).
        declared = b"POST /anything HTTP/1.1\r\nHost: bot\r\nContent-Length: 314572800\r\n\r\n"
        assert _raw_request(bot.url, declared, b"x" * 1024).startswith(b"HTTP/1.1 413 ")
        # No declared length: chunks past the limit end the read.
        chunk = b"x" * 16384
        chunked = b"POST /status HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n\r\n"
        body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * ((FORWARDED_BODY_LIMIT // len(chunk)) + 2)
        assert _raw_request(bot.url, chunked, body + b"0\r\n\r\n").startswith(b"HTTP/1.1 413 ")
        small = httpx.post(f"{bot.url}/status", content=b"x" * 1024, timeout=10)
        assert small.status_code == 405  # forwarded: the bot's process answers it
        assert httpx.get(f"{bot.url}/healthz", timeout=10).status_code == 200
