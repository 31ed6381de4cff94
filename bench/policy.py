"""Policy evaluation time per pipeline against the render time of the same pipelines, in the same run.

    .venv/bin/python bench/policy.py [--sizes 1,20] [--rounds 3]

For each N it builds a git repository of N synthetic pipelines (copies of the fixture word-count pipeline), renders
them in environment `prod` with the engine (`sandbox: auto`), then judges the renders with the starter pack
(`examples/policies`: every rendered manifest by the `package main` rules, every pipeline by the `package kpops`
rules) as a dry run does: one child process for the whole policy set. It prints milliseconds per pipeline for the
render and for the policies (best of `--rounds`), and the policies' share of the render time (target: under 10 %).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIRROR_FROM, synthetic_repository  # noqa: E402
from kpops_bot.diff.compute import DiffOptions, diff_pipeline  # noqa: E402
from kpops_bot.engine.pool import RenderPool  # noqa: E402
from kpops_bot.engine.settings import EngineSettings  # noqa: E402
from kpops_bot.engine.targets import render_revision  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.helm.mirrors import ChartMirrors  # noqa: E402
from kpops_bot.model.kinds import HelmChoice  # noqa: E402
from kpops_bot.model.policy import PolicyOptions  # noqa: E402
from kpops_bot.model.render import Mode, PipelineRender, RenderSpec  # noqa: E402
from kpops_bot.policy.check import Judged, check  # noqa: E402
from kpops_bot.policy.load import from_directory  # noqa: E402
from kpops_bot.workspace import Workspace  # noqa: E402

STARTER = ROOT / "examples" / "policies"


def render_seconds(
    repository: Path, workspace: Workspace, settings: EngineSettings
) -> tuple[float, list[PipelineRender]]:
    with RenderPool(settings) as pool:
        started = time.perf_counter()
        results = render_revision(workspace, pool, str(repository), "main", [], RenderSpec(environment="prod"))
        elapsed = time.perf_counter() - started
    failed = [result.error for result in results if not result.ok]
    if failed:
        raise SystemExit(f"render failures: {failed[:3]}")
    return elapsed, results


def policy_seconds(renders: list[PipelineRender]) -> tuple[float, int]:
    """Seconds to judge every render with the starter pack, and the denials found (a check that it judged)."""
    options = DiffOptions()
    judged = [Judged(diff_pipeline(r.name, "prod", None, r, options), None, r, None) for r in renders]
    before = sum(len(item.diff.risks) for item in judged)
    started = time.perf_counter()
    # as the dry run reads them (`policy_sets`): conftest's `*_test.rego` files left out
    check(judged, [from_directory(STARTER).without_tests()], Mode.MANIFEST, PolicyOptions(), options.masker)
    elapsed = time.perf_counter() - started
    return elapsed, sum(len(item.diff.risks) for item in judged) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,20", help="Comma-separated pipeline counts.")
    parser.add_argument("--rounds", type=int, default=3, help="Runs of each; the best is kept.")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    rows: list[str] = []
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        mirrors = ChartMirrors({MIRROR_FROM: charts.url})
        settings = EngineSettings(helm=HelmChoice.BUILTIN, chart_mirrors=dict(mirrors.mapping))
        for count in sizes:
            work = Path(scratch) / f"n{count}"
            work.mkdir()
            repository = work / "repo"
            synthetic_repository(repository, count)
            renders: list[PipelineRender] = []
            rendered: list[float] = []
            judged: list[float] = []
            for round_number in range(arguments.rounds):
                seconds, renders = render_seconds(repository, Workspace(work / f"ws-{round_number}"), settings)
                rendered.append(seconds)
                seconds, denials = policy_seconds(renders)
                judged.append(seconds)
            manifests = sum(len(c.manifests) for r in renders for c in r.components)
            render_ms, policy_ms = min(rendered) / count * 1000, min(judged) / count * 1000
            rows.append(
                f"{count:>5} {manifests:>9} {render_ms:>10.1f} {policy_ms:>10.1f} {policy_ms / render_ms:>7.1%} "
                f"{denials:>7}"
            )
            print(rows[-1], flush=True)
    print(f"{'N':>5} {'manifests':>9} {'render ms':>10} {'policy ms':>10} {'ratio':>7} {'denials':>7}  (per pipeline)")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
