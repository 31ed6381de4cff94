"""Disk and memory after many renders: `--renders` distinct renders (a synthetic repository of `--pipelines`
pipelines at successive commits that change every pipeline) through the render cache bounded by `--cache-mb`.

Prints, after each batch: renders so far, the render cache's size against its bound, the workspace's mirrors and
checkouts, the pool's scratch folder and this process's RSS (the engine runs in it, as in the server). The bound
holds when the cache never exceeds it; checkouts are 0 between batches (none outlives its job).

    .venv/bin/python bench/disk.py [--renders 1000] [--pipelines 100] [--cache-mb 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MIRROR_FROM, git, synthetic_repository
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import RenderTarget, layout_at, render_targets, select_pipelines
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.helm.mirrors import ChartMirrors
from kpops_bot.model.kinds import HelmChoice
from kpops_bot.model.render import RenderSpec
from kpops_bot.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=1000)
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--cache-mb", type=int, default=2)
    arguments = parser.parse_args()
    bound = arguments.cache_mb * 1024 * 1024
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        repository = work / "repo"
        synthetic_repository(repository, arguments.pipelines)
        settings = EngineSettings(
            helm=HelmChoice.BUILTIN, chart_mirrors=dict(ChartMirrors({MIRROR_FROM: charts.url}).mapping)
        )
        workspace = Workspace(work / "workspace")
        cache = RenderCache(work / "render-cache", max_bytes=bound)
        defaults = repository / "pipelines" / "defaults.yaml"
        rendered = 0
        print(f"{'renders':>8} {'cache MiB':>10} {'bound':>6} {'mirrors MiB':>12} {'checkouts':>10} {'RSS MiB':>8}")
        with RenderPool(settings, checkouts=[workspace.root / "checkouts"]) as pool:
            batch = 0
            while rendered < arguments.renders:
                batch += 1
                # A comment in the root defaults changes every pipeline's cache key: all render again.
                defaults.write_text(defaults.read_text() + f"# batch {batch}\n")
                git(repository, "commit", "-q", "-am", f"batch {batch}")
                cached = workspace.repository(str(repository))
                commit = cached.resolve("main")
                layout = layout_at(cached, commit, RenderSpec())
                pipelines = select_pipelines(layout, [])[: arguments.renders - rendered]
                targets = [RenderTarget(commit, pipeline, RenderSpec(), layout) for pipeline in pipelines]
                results = render_targets(cached, pool, targets, cache)
                failed = [result.error for result in results if not result.ok]
                if failed:
                    raise SystemExit(f"renders failed: {failed[:2]}")
                rendered += len(results)
                checkouts = len(list((workspace.root / "checkouts").iterdir()))
                print(
                    f"{rendered:>8} {cache.size() / 2**20:>10.2f} {arguments.cache_mb:>6} "
                    f"{folder_bytes(workspace.root / 'mirrors') / 2**20:>12.2f} {checkouts:>10} {rss_mib():>8.1f}",
                    flush=True,
                )
        print(
            f"render cache {cache.size() / 2**20:.2f} MiB of a {arguments.cache_mb} MiB bound after {rendered} renders"
        )


if __name__ == "__main__":
    main()
