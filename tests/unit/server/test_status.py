"""The status page in a real browser (headless Chromium from the distribution): a queued job, a lock with its
waiting line and a delivery on it; the token moves from the address into a cookie; nobody without it sees a thing.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.jobs import JobKind
from kpops_bot.model.locks import Granted, Resource, Waiting
from kpops_bot.store import NewJob
from testbed.harness import BotHarness, running_bot
from testbed.repos import GitRepo
from tests.support.workflow_kit import queued

TOKEN = "status-t0ken-for-operators"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup dev installs it)"),
]


@pytest.fixture
def harness(tmp_path: Path, deployment_repo: GitRepo) -> Iterator[BotHarness]:
    """A bot that only receives (concurrency 0), so the job it is sent stays queued for the page to show."""
    settings = EngineSettings()
    with running_bot(Forge.GITHUB, settings, tmp_path, deployment_repo, concurrency=0, status_token=TOKEN) as running:
        yield running


def _browser(*arguments: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([CHROMIUM, *flags, *arguments], capture_output=True, text=True, timeout=120, check=True)


def test_the_page_shows_a_job_a_lock_and_a_delivery_in_chromium(harness: BotHarness, tmp_path: Path) -> None:
    harness.repo.write("README.md", "A change.\n")
    head = harness.repo.commit("a change")
    delivery = str(uuid.uuid4())
    answer = harness.send_pull_request("opened", 7, head, delivery=delivery)
    assert answer.json()["status"] == "queued"
    job_id = answer.json()["job"]
    locks = harness.bot.services.locks
    repository = f"github:{harness.forge.repository.full_name}"
    word_count = Resource("dev", "word-count")
    assert isinstance(locks.acquire(repository, 7, [word_count], wait_key="c1", then=_then(7)), Granted)
    assert isinstance(locks.acquire(repository, 8, [word_count], wait_key="c2", then=_then(8)), Waiting)

    screenshot = tmp_path / "status.png"
    _browser(
        f"--screenshot={screenshot}",
        "--window-size=1280,900",
        f"{harness.url}/status?token={TOKEN}",
        profile=tmp_path / "profile-1",
    )
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert screenshot.stat().st_size > 20_000  # a page of tables, not a blank or an error page

    dom = _browser("--dump-dom", f"{harness.url}/status?token={TOKEN}", profile=tmp_path / "profile-2").stdout
    assert TOKEN not in dom
    pull_url = f"{harness.forge.url}/{harness.forge.repository.full_name}/pull/7"
    assert f'<a href="{pull_url}">' in dom or pull_url in dom
    assert 'class="state-queued">queued' in dom
    assert "word-count" in dom and "#7" in dom and "#8" in dom  # the lock, its holder and its line
    assert delivery in dom
    assert 'class="outcome-queued">queued' in dom
    assert f"<td>{job_id}</td>" in dom

    timeline = _browser(
        "--dump-dom",
        f"{harness.url}/status/pull?key={repository}%237&token={TOKEN}",
        profile=tmp_path / "profile-3",
    ).stdout
    assert f"pull_request delivery {delivery} → job {job_id}" in timeline
    assert f"job {job_id} (preview at {head[:10]}) queued" in timeline


def test_the_page_needs_the_token(harness: BotHarness) -> None:
    assert httpx.get(f"{harness.url}/status").status_code == 401
    assert httpx.get(f"{harness.url}/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{harness.url}/status", cookies={"kpops_bot_status": "wrong"}).status_code == 401
    bearer = httpx.get(f"{harness.url}/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    assert bearer.headers["x-frame-options"] == "DENY"
    assert bearer.headers["referrer-policy"] == "no-referrer"
    moved = httpx.get(f"{harness.url}/status/pull?key=a%231&token={TOKEN}")
    assert moved.status_code == 303
    assert moved.headers["location"] == "/status/pull?key=a%231"
    assert "HttpOnly" in moved.headers["set-cookie"] and "SameSite=strict" in moved.headers["set-cookie"]


def _then(number: int) -> NewJob:
    return queued(f"github:acme/deployments#{number}", JobKind.COMMAND)


def test_the_page_tells_true_outcomes_newest_first_in_one_deliveries_table_and_refreshes(
    harness: BotHarness, tmp_path: Path
) -> None:
    """A command whose pipeline was unknown ran to its end (`done`) and was answered `failed: ...`: the page says
    failed. The newer of two finished jobs comes first; the deliveries are one table; the page renews itself."""
    store = harness.bot.services.store
    older = store.enqueue(queued("github:acme/deployments#3", JobKind.COMMAND))
    newer = store.enqueue(queued("github:acme/deployments#4", JobKind.COMMAND))
    for job_id, outcome in [(older, "failed: UnknownPipelineError"), (newer, "ran 1 command(s)")]:
        claimed = store.claim("test-worker", 60.0, take_over=False)
        assert claimed is not None and claimed.id == job_id
        store.finish(job_id, "test-worker", outcome)
    delivery = str(uuid.uuid4())
    harness.repo.write("README.md", "Another change.\n")
    assert harness.send_pull_request("opened", 9, harness.repo.commit("b"), delivery=delivery).status_code == 202

    dom = _browser("--dump-dom", f"{harness.url}/status?token={TOKEN}", profile=tmp_path / "profile").stdout
    recent = dom[dom.index('id="recent-jobs"') :].split("</table>")[0]
    rows = [row for row in recent.split("<tr>") if row.startswith("\n<td>")]
    assert [row.split("</td>")[0] for row in rows[:2]] == [f"\n<td>{newer}", f"\n<td>{older}"]
    failed_row = rows[1]
    assert 'class="state-failed"' in failed_row and ">failed</td>" in failed_row
    assert "failed: UnknownPipelineError" in failed_row and ">done</td>" not in failed_row
    assert dom.count("<table") == dom.count("<table id=")  # every table named, so the count below is of tables
    assert dom.count('id="deliveries"') == 1 and 'id="answered"' not in dom
    assert dom.count(delivery) == 1  # listed once, with this replica's answer
    assert '<meta http-equiv="refresh" content="10">' in dom
    assert dom.index('id="active-jobs"') < dom.index('id="recent-jobs"') < dom.index('id="deliveries"')
