"""`/metrics` labels take only event names the bot knows: the event header is the sender's choice.

One replayed signed delivery with 300 made-up event names made 300 label values (each a time series the process
keeps for its lifetime). An event the bot does not know is counted as `other`.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from kpops_bot.events.signatures import github_signature
from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings
from kpops_bot.store import Store
from testbed.deliveries import github_pull_request

SECRET = "s3cret-for-labels"


def test_made_up_event_names_are_counted_as_other(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    settings = BotSettings(github={"webhook_secret": SECRET}, data_dir=tmp_path)  # type: ignore[arg-type]
    payload = github_pull_request("opened", number=5, full_name="acme/deployments", clone_url="x", head_sha="a" * 40)
    body = json.dumps(payload).encode()
    try:
        with TestClient(create_app(settings, store)) as client:
            for index in range(300):
                headers = {
                    "X-GitHub-Event": f"made-up-{index}",
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-Hub-Signature-256": github_signature(SECRET, body),
                }
                answer = client.post("/webhooks/github", content=body, headers=headers)
                assert answer.status_code == 202  # ignored, and counted
            text = client.get("/metrics").text
    finally:
        store.close()
    counts = {
        sample.labels["event"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "kpops_bot_deliveries_total" and sample.labels["outcome"] == "ignored"
    }
    assert not [event for event in counts if event.startswith("made-up")]
    assert counts["other"] >= 300  # the registry is the process's: other tests may have counted some too
