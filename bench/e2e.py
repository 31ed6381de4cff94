"""The server end to end: a signed push delivery → the sticky comment updated, for a one-pipeline change in a
repository of `--pipelines` pipelines, with a warm cache (the base side rendered before), over `--pushes` pushes.

The real server (`Bot`: starlette, store, worker, render pool with its sandbox) on loopback, the fake GitHub of the
tests (REST API and git over smart HTTP). Each push changes one pipeline to a value not rendered before, so its
head render is a miss and everything else is cached. Prints p50 / p99 / max of delivery → comment, next to a
`GET /healthz` round trip of the same run as the baseline.

    .venv/bin/python bench/e2e.py [--pipelines 200] [--pushes 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MIRROR_FROM, synthetic_repository
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.helm.mirrors import ChartMirrors
from kpops_bot.model.kinds import HelmChoice
from testbed.harness import BotHarness, running_bot
from testbed.repos import GitRepo

ROOT = Path(__file__).resolve().parent.parent
NUMBER = 1


def _push(harness: BotHarness, file: str, replicas: int) -> float:
    """Change `file` to `replicas`, deliver the push; seconds until the comment shows it and the status is final."""
    repo = harness.repo
    text = (repo.path / file).read_text()
    start = text.index("replicaCount: ")
    end = text.index("\n", start)
    repo.write(file, f"{text[:start]}replicaCount: {replicas}{text[end:]}")
    head = repo.commit(f"replicas {replicas}")
    harness.forge.pulls.push(NUMBER, head)
    started = time.perf_counter()
    action = "opened" if replicas == 1000 else "updated"
    assert harness.send_pull_request(action, NUMBER, head).status_code == 202
    while True:
        statuses = harness.forge.statuses(head)
        if statuses and statuses[-1].state != "pending":
            break
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    (comment,) = harness.bot_comments(NUMBER)
    if f"replicas: {replicas}" not in comment and f"replicaCount: {replicas}" not in comment:
        raise SystemExit(f"the comment does not show replicas {replicas}")
    return elapsed


def _percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=200)
    parser.add_argument("--pushes", type=int, default=50)
    arguments = parser.parse_args()
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = synthetic_repository(work / "repo", arguments.pipelines)
        repo = GitRepo(work / "repo")
        repo.git("checkout", "-q", "-b", "feature")
        mirrors = ChartMirrors({MIRROR_FROM: charts.url})
        engine = EngineSettings(helm=HelmChoice.BUILTIN, chart_mirrors=dict(mirrors.mapping))
        with running_bot(Forge.GITHUB, engine, work, repo) as harness:
            harness.forge.pulls.open(NUMBER, repo.git("rev-parse", "HEAD").strip(), head_ref="feature")
            print(harness.bot.services.sandbox.describe() if harness.bot.services.sandbox else "no sandbox")
            warm = _push(harness, files[0], 1000)  # renders the base side once: the cache is warm after it
            print(f"first push (cold base): {warm:.2f} s", flush=True)
            seconds = [_push(harness, files[0], 1001 + index) for index in range(arguments.pushes)]
            health = []
            for _ in range(50):
                started = time.perf_counter()
                httpx.get(f"{harness.url}/healthz")
                health.append(time.perf_counter() - started)
    print(f"{arguments.pushes} pushes, {arguments.pipelines} pipelines, one changed each time")
    print(
        f"delivery → comment: p50 {_percentile(seconds, 0.5):.2f} s, p99 {_percentile(seconds, 0.99):.2f} s, "
        f"max {max(seconds):.2f} s (targets: p50 ≤ 1 s, p99 ≤ 2 s)"
    )
    print(f"baseline GET /healthz round trip: p50 {statistics.median(health) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
