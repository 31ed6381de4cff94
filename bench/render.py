"""Rendering N pipelines: the whole `kpops-bot render` command against kpops' own command line, in one run.

    .venv/bin/python bench/render.py [--sizes 1,20,100] [--rounds 3]

For each N it builds a git repository of N synthetic pipelines (copies of the fixture word-count pipeline with
their own names and replica counts, no custom code), then, in every round, runs each side once, taking turns (so
that load from elsewhere on the machine falls on all alike), and prints the median of each side's runs:
- `kpops-bot render --format json` of every pipeline, the whole process timed (its start, the render pool's
  start, git, the renders, the output), in its sandbox (`sandbox: auto`, the strongest layer this machine allows);
- the same without a sandbox (`sandbox: off`): the sandbox's cost is the difference (target: at most 10 % at
  N = 100);
- `kpops deploy --operation-mode manifest` once per pipeline, one after the other (what a person's loop does);
- the same, two processes at a time (the next starting as one ends: a person's loop on two cores);
- kpops' own multi-pipeline mode, `kpops deploy a b …`, the pipelines split over two processes run at once
  (kpops imported once per process).
Every kpops process and every render uses the same helm client: kpops-bot's helm executable, forwarding to a helm
service with Helm's library loaded (the bot's built-in helm), so no side pays more for Helm. Each figure is
printed as pipelines per second and as the bot's speed-up over that side (its time / the bot's).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIRROR_FROM, cli_seconds, multi_pipeline_seconds, synthetic_repository  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.helm.mirrors import ChartMirrors  # noqa: E402

BOT = "kpops-bot render"
BOT_OFF = "kpops-bot render, sandbox off"
SIDES = (
    BOT,
    BOT_OFF,
    "kpops CLI per pipeline, one after the other",
    "kpops CLI per pipeline, two at a time",
    "kpops multi-pipeline mode, two processes",
)


def bot_seconds(repository: Path, charts_url: str, workspace: Path, count: int, *, sandbox: str) -> float:
    """The whole `kpops-bot render` process, every pipeline of the repository."""
    command = [
        sys.executable, "-m", "kpops_bot", "render", "--repo", str(repository), "--rev", "main", "--format", "json",
        "--chart-mirror", f"{MIRROR_FROM}={charts_url}", "--workspace", str(workspace), "--helm", "builtin",
        "--sandbox", sandbox,
    ]  # fmt: skip
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    rendered = completed.stderr.count(": ok\n")
    if completed.returncode != 0 or rendered != count:
        raise SystemExit(f"kpops-bot render: exit {completed.returncode}, {rendered} ok: {completed.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,20,100", help="Comma-separated pipeline counts.")
    parser.add_argument("--rounds", type=int, default=3, help="Runs of each side, taken in turns (median).")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        mirrors = ChartMirrors({MIRROR_FROM: charts.url})
        print(f"rounds={arguments.rounds}, medians", flush=True)
        table: list[str] = []
        for count in sizes:
            work = Path(scratch) / f"n{count}"
            repository = work / "repo"
            files = synthetic_repository(repository, count, custom_code=False)
            renders = [(repository, file) for file in files]
            sides: dict[str, Callable[[int], float]] = {
                BOT: lambda _: bot_seconds(repository, charts.url, work / "ws-boxed", count, sandbox="auto"),  # noqa: B023
                BOT_OFF: lambda _: bot_seconds(repository, charts.url, work / "ws-off", count, sandbox="off"),  # noqa: B023
                SIDES[2]: lambda r: cli_seconds(renders, mirrors, work / f"seq-{r}"),  # noqa: B023
                SIDES[3]: lambda r: cli_seconds(renders, mirrors, work / f"two-{r}", at_once=2),  # noqa: B023
                SIDES[4]: lambda r: multi_pipeline_seconds([(repository, files)], mirrors, work / f"multi-{r}"),  # noqa: B023
            }
            times: dict[str, list[float]] = {name: [] for name in sides}
            for round_number in range(arguments.rounds):
                for name, timed in sides.items():
                    times[name].append(timed(round_number))
            medians = {name: statistics.median(values) for name, values in times.items()}
            print(f"N = {count}:", flush=True)
            for name, seconds in medians.items():
                print(
                    f"   {name}: {seconds:.2f} s, {count / seconds:.2f} pipelines/s, "
                    f"{BOT} speed-up {seconds / medians[BOT]:.2f}x",
                    flush=True,
                )
            cost = (medians[BOT] - medians[BOT_OFF]) / medians[BOT_OFF] * 100
            print(f"   sandbox cost: {cost:+.1f} %", flush=True)
            ratios = " ".join(f"{medians[name] / medians[BOT]:>9.2f}x" for name in SIDES[2:])
            table.append(f"{count:>5} {count / medians[BOT]:>9.2f} {cost:>+8.1f}% {ratios}")
        print(f"{'N':>5} {'bot p/s':>9} {'sandbox':>9} {'vs seq':>10} {'vs 2-at-a-time':>10} {'vs multi':>10}")
        print("\n".join(table))


if __name__ == "__main__":
    main()
