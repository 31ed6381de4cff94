"""How fast the command line starts: `kpops-bot --help` against `python -c pass`, in one run.

    .venv/bin/python bench/cli_start.py [--runs 20]

Both are started as processes with this interpreter, alternately, and the median of each is printed with the
difference and the ratio. Target: `kpops-bot --help` within 0.15 s. Also prints the slowest imports of
`kpops_bot.cli` (`python -X importtime`), to show what a regression pulls in.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.15
SCRIPT = Path(sys.executable).parent / "kpops-bot"  # the console script pip installed beside this interpreter
HELP = [str(SCRIPT), "--help"]
BASELINE = [sys.executable, "-c", "pass"]


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def slowest_imports(count: int = 5) -> list[tuple[int, str]]:
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import kpops_bot.cli"], capture_output=True, text=True, check=True
    )
    rows = []
    for line in completed.stderr.splitlines()[1:]:  # "import time: self [us] | cumulative | imported package"
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    seconds(HELP)  # warm the file cache
    helps, baselines = [], []
    for _ in range(args.runs):
        helps.append(seconds(HELP))
        baselines.append(seconds(BASELINE))
    help_median, baseline_median = statistics.median(helps), statistics.median(baselines)
    verdict = "within" if help_median <= TARGET_SECONDS else "OVER"
    print(f"python -c pass        median {baseline_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"kpops-bot --help      median {help_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"difference {(help_median - baseline_median) * 1000:.1f} ms, ratio {help_median / baseline_median:.2f}x")
    print(f"target {TARGET_SECONDS * 1000:.0f} ms: {verdict}")
    print("slowest imports of kpops_bot.cli (cumulative µs):")
    for cumulative, name in slowest_imports():
        print(f"  {cumulative:>8}  {name}")


if __name__ == "__main__":
    main()
