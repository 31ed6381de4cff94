"""The repository's data-flow graph against rendering its pipelines once, in the same run.

    .venv/bin/python bench/graph.py [--count 300]

Builds a git repository of N synthetic pipelines (copies of the fixture word-count pipeline, each writing its own
topics), renders all of them once with the engine (the baseline), then times
- the graph cold: empty render cache, no graph kept (what the first pull request on a base pays, once),
- the graph from the render cache, none kept in memory (a new process, or a later base with the same files),
- the graph kept in memory for the base commit (every later pull request on that base),
- a dry run of a pull request that changes one pipeline's output topic on that base (its own renders only),
and prints each as seconds and as a ratio against the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIRROR_FROM, git, synthetic_repository  # noqa: E402
from kpops_bot.diff.graph import Graph  # noqa: E402
from kpops_bot.dryrun.graph import BASE_GRAPHS, graph_at  # noqa: E402
from kpops_bot.dryrun.request import DiffRequest  # noqa: E402
from kpops_bot.dryrun.run import diff_revisions  # noqa: E402
from kpops_bot.engine.cache import RenderCache  # noqa: E402
from kpops_bot.engine.pool import RenderPool  # noqa: E402
from kpops_bot.engine.settings import EngineSettings  # noqa: E402
from kpops_bot.engine.targets import render_revision  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.model.kinds import HelmChoice  # noqa: E402
from kpops_bot.model.render import RenderSpec  # noqa: E402
from kpops_bot.workspace import Workspace  # noqa: E402


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="Pipelines in the repository.")
    count = parser.parse_args().count
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        repository = work / "repo"
        files = synthetic_repository(repository, count)
        settings = EngineSettings(helm=HelmChoice.BUILTIN, chart_mirrors={MIRROR_FROM: charts.url})
        workspace = Workspace(work / "workspace")
        cache = RenderCache(work / "cache")
        with RenderPool(settings) as pool:
            print(f"pipelines={count} workers={settings.workers} {pool.sandbox.describe()}", flush=True)
            baseline = timed(lambda: render_revision(workspace, pool, str(repository), "main", [], RenderSpec()))
            cached_repository = workspace.repository(str(repository))
            base = cached_repository.resolve("main")
            graphs: list[Graph] = []

            def graph() -> None:
                graphs.append(graph_at(cached_repository, pool, base, RenderSpec(), cache))

            BASE_GRAPHS.clear()
            cold = timed(graph)
            BASE_GRAPHS.clear()
            from_cache = timed(graph)
            kept = timed(graph)
            if len(graphs[-1].pipelines) != count or graphs[-1].failed:
                raise SystemExit(f"graph of {len(graphs[-1].pipelines)} pipelines, failed: {graphs[-1].failed[:3]}")
            git(repository, "checkout", "-q", "-b", "feature")
            changed = repository / files[0]
            changed.write_text(changed.read_text().replace("${output_topic_name}", "renamed-output"))
            git(repository, "commit", "-qam", "Rename an output topic")
            request = DiffRequest(source=str(repository), base="main", head="feature")
            pull_request = timed(lambda: diff_revisions(workspace, pool, request, cache=cache))
    print(f"{'':<44}{'seconds':>9}{'ratio':>8}")
    for label, seconds in (
        ("render every pipeline once (baseline)", baseline),
        ("graph cold (empty render cache)", cold),
        ("graph from the render cache", from_cache),
        ("graph kept for the base commit", kept),
        ("dry run of a topic rename, base graph kept", pull_request),
    ):
        print(f"{label:<44}{seconds:>9.3f}{seconds / baseline:>7.3f}x")


if __name__ == "__main__":
    main()
