"""`/metrics`: Prometheus text that parses, counters that move with what the bot does, gauges from the store."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.events.signatures import github_signature
from kpops_bot.metrics import exposition, watch_store
from kpops_bot.overview import gauges
from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings
from kpops_bot.store import Store
from kpops_bot.versions.environments import EnvironmentBuildError, EnvironmentStore
from testbed.deliveries import github_pull_request
from testbed.harness import running_bot, wait_for
from testbed.repos import GitRepo

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
SECRET = "s3cret-for-metrics"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(get: httpx.Response) -> Samples:
    assert get.status_code == 200
    assert get.headers["content-type"].startswith("text/plain")
    return _parse(get.text)


def _parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (sample, found), value in samples.items() if sample == name and wanted <= found)


def test_counters_move_with_a_preview_and_gauges_read_the_store(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> None:
    with running_bot(Forge.GITHUB, engine_settings, tmp_path, deployment_repo) as harness:
        before = _scrape(httpx.get(f"{harness.url}/metrics"))
        started = time.time()
        repo = harness.repo
        repo.git("checkout", "-q", "-B", "feature", "main")
        repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
        head = repo.commit("scale word-count")
        delivery = str(uuid.uuid4())
        assert harness.send_pull_request("opened", 7, head, delivery=delivery).json()["status"] == "queued"
        assert harness.send_pull_request("opened", 7, head, delivery=delivery).json()["status"] == "duplicate"
        assert harness.final_status(head) == harness.forge.success

        def succeeded() -> Samples | None:
            scraped = _scrape(httpx.get(f"{harness.url}/metrics"))
            return scraped if _value(scraped, "kpops_bot_last_job_success_timestamp_seconds") >= started else None

        after = wait_for("the job's success recorded", succeeded, 60)

    def moved(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    event = {"forge": "github", "event": "pull_request"}
    assert moved("kpops_bot_deliveries_total", **event, outcome="queued") == 1
    assert moved("kpops_bot_deliveries_total", **event, outcome="duplicate") == 1
    assert moved("kpops_bot_job_duration_seconds_count", kind="preview", outcome="done") == 1
    assert moved("kpops_bot_render_duration_seconds_count", outcome="rendered") >= 2  # base and head
    assert moved("kpops_bot_render_cache_lookups_total") >= 2
    assert moved("kpops_bot_forge_calls_total", forge="github", outcome="ok") >= 3  # status, comment, status
    assert _value(after, "kpops_bot_store_up") == 1
    assert _value(after, "kpops_bot_jobs_queued") == 0
    assert _value(after, "kpops_bot_jobs_running") == 0
    assert _value(after, "kpops_bot_worker_threads_alive") == 2


def test_intake_outcomes_and_queue_gauges(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    settings = BotSettings(github={"webhook_secret": SECRET}, data_dir=tmp_path)  # type: ignore[arg-type]
    unwatch = watch_store(lambda: gauges(store))
    try:
        with TestClient(create_app(settings, store)) as client:
            before = _scrape(client.get("/metrics"))
            payload = github_pull_request(
                "opened", number=5, full_name="acme/deployments", clone_url="x", head_sha="a" * 40
            )
            assert _post(client, SECRET, payload).json()["status"] == "queued"
            assert _post(client, "wrong secret", payload).status_code == 401
            labelled = github_pull_request(
                "labeled", number=5, full_name="acme/deployments", clone_url="x", head_sha="a" * 40
            )
            assert _post(client, SECRET, labelled).json()["status"] == "ignored"
            after = _scrape(client.get("/metrics"))
    finally:
        unwatch()
        store.close()

    def moved(outcome: str, event: str = "pull_request") -> float:
        labels = {"forge": "github", "event": event, "outcome": outcome}
        return _value(after, "kpops_bot_deliveries_total", **labels) - _value(
            before, "kpops_bot_deliveries_total", **labels
        )

    assert moved("queued") == 1
    assert moved("ignored") == 1
    assert moved("refused", event="unknown") == 1  # the event of an unauthenticated sender is not believed
    assert _value(after, "kpops_bot_jobs_queued") == 1
    assert _value(after, "kpops_bot_oldest_queued_job_age_seconds") >= 0
    assert _value(after, "kpops_bot_locks_held") == 0


def _post(client: TestClient, secret: str, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(secret, body),
    }
    return client.post("/webhooks/github", content=body, headers=headers)


@pytest.mark.kpops  # builds the environment of kpops 8.1.4 from the package index
def test_environment_builds_are_counted_by_release_and_outcome(tmp_path: Path) -> None:
    builds, seconds = "kpops_bot_kpops_environment_builds_total", "kpops_bot_kpops_environment_build_duration_seconds"
    before = _parse(exposition().decode())
    EnvironmentStore(tmp_path / "environments").get(Version("8.1.4"), SpecifierSet(">=3.10"))
    (tmp_path / "empty-index").mkdir()
    nowhere = EnvironmentStore(tmp_path / "other", index_url=(tmp_path / "empty-index").as_uri())
    with pytest.raises(EnvironmentBuildError, match="kpops was not found"):
        nowhere.get(Version("9.4.1"), SpecifierSet(">=3.10"))
    EnvironmentStore(tmp_path / "environments").get(Version("8.1.4"), SpecifierSet(">=3.10"))  # built: not counted
    after = _parse(exposition().decode())

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved(builds, release="8.1.4", outcome="built") == 1
    assert moved(builds, release="9.4.1", outcome="failed") == 1
    assert moved(builds, release="9.4.1", outcome="built") == 0
    assert moved(f"{seconds}_count", outcome="built") == 1
    assert moved(f"{seconds}_count", outcome="failed") == 1
    assert moved(f"{seconds}_sum", outcome="built") > 0
