"""Throughput of the engine against the plain kpops CLI, one after the other in the same run.

    .venv/bin/python bench/render.py [--sizes 1,20,100]

For each N it builds a git repository of N synthetic pipelines (copies of the fixture word-count pipeline with
their own names and replica counts), then renders all of them
- with the engine in its sandbox (`sandbox: auto`, the strongest layer this machine allows),
- with the engine without a sandbox (`sandbox: off`), and
- with `kpops deploy --operation-mode manifest` run once per pipeline, sequentially, with kpops-bot's helm
  executable on PATH forwarding to the same kind of helm service (so all sides pay the same for Helm),
and prints pipelines per second for each (the engine's best of `--rounds` alternated runs), the sandbox's cost
against `off` (target: at most 10 % at N = 100) and the sandboxed engine's speed-up over the CLI (target at
N = 100 on 2 cores: at least 1.8x).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIRROR_FROM, cli_seconds, synthetic_repository  # noqa: E402
from kpops_bot.engine.pool import RenderPool  # noqa: E402
from kpops_bot.engine.settings import EngineSettings  # noqa: E402
from kpops_bot.engine.targets import render_revision  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.helm.mirrors import ChartMirrors  # noqa: E402
from kpops_bot.model.kinds import HelmChoice, SandboxChoice  # noqa: E402
from kpops_bot.model.render import RenderSpec  # noqa: E402
from kpops_bot.workspace import Workspace  # noqa: E402


def engine_seconds(repository: Path, workspace: Workspace, settings: EngineSettings, count: int) -> float:
    with RenderPool(settings) as pool:
        print(f"  {pool.sandbox.describe()}", flush=True)
        started = time.perf_counter()
        results = render_revision(workspace, pool, str(repository), "main", [], RenderSpec())
        elapsed = time.perf_counter() - started
    failed = [result.error for result in results if not result.ok]
    if len(results) != count or failed:
        raise SystemExit(f"engine: {len(results)} results, failures: {failed[:3]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,20,100", help="Comma-separated pipeline counts.")
    parser.add_argument("--rounds", type=int, default=2, help="Sandboxed and unsandboxed runs, alternated; best kept.")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        mirrors = ChartMirrors({MIRROR_FROM: charts.url})
        settings = EngineSettings(helm=HelmChoice.BUILTIN, chart_mirrors=dict(mirrors.mapping))
        unsandboxed = settings.model_copy(update={"sandbox": SandboxChoice.OFF})
        print(f"workers={settings.workers} rounds={arguments.rounds}")
        rows: list[str] = []
        for count in sizes:
            work = Path(scratch) / f"n{count}"
            work.mkdir()
            repository = work / "repo"
            files = synthetic_repository(repository, count)
            boxed: list[float] = []
            bare: list[float] = []
            for round_number in range(arguments.rounds):
                # Alternated, so that load from elsewhere on the machine falls on both alike.
                boxed.append(engine_seconds(repository, Workspace(work / f"boxed-{round_number}"), settings, count))
                bare.append(engine_seconds(repository, Workspace(work / f"bare-{round_number}"), unsandboxed, count))
            cli = cli_seconds([(repository, file) for file in files], mirrors, work)
            best_boxed, best_bare = min(boxed), min(bare)
            cost = (best_boxed - best_bare) / best_bare * 100
            rows.append(
                f"{count:>5} {count / best_boxed:>12.2f} {count / best_bare:>9.2f} {cost:>+8.1f}% {count / cli:>8.2f} "
                f"{cli / best_boxed:>5.2f}x"
            )
            print(rows[-1], flush=True)
        print(f"{'N':>5} {'sandbox p/s':>12} {'off p/s':>9} {'cost':>9} {'cli p/s':>8} {'ratio':>6}")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
