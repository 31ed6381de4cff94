"""Costs of rendering with the kpops release a repository pins, in one run.

    .venv/bin/python bench/versions.py [--pipelines 20] [--releases 8.1.4,9.4.1,10.9.0,11.0.0] [--pip]

1. Building an environment: the release 8.1.4 installed into a fresh folder with uv (the bot's way; uv's own
   download cache is warm after the first run), and with `--pip` also with venv + pip (the fallback), as a ratio.
2. Render throughput per release: a repository of N copies of kpops-examples' word-count (with the Strimzi
   label kpops 9+ need) rendered by each release's sandboxed fork server, in pipelines per second and as a ratio
   against the bot's own kpops (the baseline, rendered in the same run). Environments come from the test cache
   (~/.cache/kpops-bot-test-envs, built when missing).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIRROR_FROM, git  # noqa: E402
from kpops_bot.engine.pool import RenderPool  # noqa: E402
from kpops_bot.engine.settings import EngineSettings  # noqa: E402
from kpops_bot.engine.targets import render_revision  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.model.kinds import HelmChoice  # noqa: E402
from kpops_bot.model.render import RenderSpec  # noqa: E402
from kpops_bot.versions.environments import EnvironmentStore  # noqa: E402
from kpops_bot.versions.index import bot_kpops_version  # noqa: E402
from testbed.kpops_versions import (  # noqa: E402
    environment,
    environments_folder,
    versioned_charts,
    word_count_checkout,
)

DEFAULT_RELEASES = "8.1.4,9.4.1,10.9.0,11.0.0"


def build_seconds(scratch: Path, *, pip: bool) -> float:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    store = EnvironmentStore(scratch / ("pip" if pip else "uv"), use_uv=not pip)
    started = time.perf_counter()
    store.get(Version("8.1.4"), SpecifierSet(">=3.10"))
    return time.perf_counter() - started


def repository(target: Path, release: str, count: int) -> Path:
    checkout = word_count_checkout(target, release)
    pipeline = checkout / "word-count"
    for index in range(count):
        shutil.copytree(pipeline, checkout / f"word-count-{index:03d}")
    shutil.rmtree(pipeline)
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "synthetic")
    return checkout


def render_seconds(settings: EngineSettings, store: EnvironmentStore, release: str, count: int, scratch: Path) -> float:
    from kpops_bot.workspace import Workspace

    checkout = repository(scratch / f"repo-{release}", release, count)
    workspace = Workspace(scratch / f"workspace-{release}")
    with RenderPool(settings, kpops=environment(store, release)) as pool:
        started = time.perf_counter()
        results = render_revision(workspace, pool, str(checkout), "main", [], RenderSpec())
        elapsed = time.perf_counter() - started
    failed = [result.error for result in results if not result.ok]
    if len(results) != count or failed:
        raise SystemExit(f"kpops {release}: {len(results)} results, failures: {failed[:2]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=20)
    parser.add_argument("--releases", default=DEFAULT_RELEASES)
    parser.add_argument("--pip", action="store_true", help="Also build with venv + pip (slow).")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        uv = build_seconds(scratch, pip=False)
        print(f"build kpops 8.1.4 environment: uv {uv:.1f} s", flush=True)
        if arguments.pip:
            pip = build_seconds(scratch, pip=True)
            print(f"build kpops 8.1.4 environment: venv + pip {pip:.1f} s (uv is {pip / uv:.1f}x faster)")
        store = EnvironmentStore(environments_folder())
        with ChartServer(versioned_charts(scratch / "charts")) as charts:
            settings = EngineSettings(
                helm=HelmChoice.BUILTIN, chart_mirrors={MIRROR_FROM: charts.url}, variables={"NAMESPACE": "kpops"}
            )
            count = arguments.pipelines
            own = bot_kpops_version()
            baseline = count / render_seconds(settings, store, own, count, scratch)
            print(f"render {count} pipelines, kpops {own} (baseline): {baseline:.2f} pipelines/s", flush=True)
            for release in arguments.releases.split(","):
                rate = count / render_seconds(settings, store, release, count, scratch)
                print(f"render {count} pipelines, kpops {release}: {rate:.2f} pipelines/s ({rate / baseline:.2f}x)")


if __name__ == "__main__":
    main()
