"""`kpops-bot diff` against the plain kpops CLI on a synthetic repository of 200 pipelines, in one run.

    .venv/bin/python bench/diff.py [--pipelines 200] [--sample N] [--repeat N]

1. One pipeline changed, warm cache: a first push was diffed already (its merge base is in the render cache); a
   second push changes the same pipeline again. Time of the whole `kpops-bot diff` process against rendering that
   one pipeline twice (base and head) with `kpops deploy --operation-mode manifest`. Target: at most 0.6x.
   `--repeat N` (default 5) times both N times, taking turns, each diff with the cache as the first push left it;
   the medians are compared, so that a busy moment of the machine does not decide the figure.
2. The root `defaults.yaml` changed (every pipeline affected), cold cache: `kpops-bot diff` against the plain CLI
   over all pipelines at both revisions, one after the other. Target: at least 2x faster.
   `--sample N` times the CLI on N pipelines per revision and scales to all (the full baseline takes long).
Both sides use kpops-bot's helm (the CLI through the helm executable shim), so neither pays more for Helm.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIRROR_FROM, cli_seconds, git, synthetic_repository  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.helm.mirrors import ChartMirrors  # noqa: E402


def bot_seconds(repository: Path, head: str, charts_url: str, workspace: Path, cache: Path) -> float:
    command = [
        sys.executable, "-m", "kpops_bot", "diff", "--repo", str(repository), "--base", "main", "--head", head,
        "--chart-mirror", f"{MIRROR_FROM}={charts_url}", "--workspace", str(workspace), "--cache-dir", str(cache),
        "--helm", "builtin", "--format", "json",
    ]  # fmt: skip
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"kpops-bot diff failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return elapsed


def checkout(repository: Path, revision: str, target: Path) -> Path:
    archive = subprocess.run(["git", "archive", revision], cwd=repository, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def branch(repository: Path, name: str, edit: dict[str, tuple[str, str]]) -> None:
    git(repository, "checkout", "-q", "-b", name, "main")
    for file, (old, new) in edit.items():
        path = repository / file
        path.write_text(path.read_text().replace(old, new, 1))
    git(repository, "commit", "-q", "-am", name)
    git(repository, "checkout", "-q", "main")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=200)
    parser.add_argument("--sample", type=int, default=0, help="CLI renders per revision to time (0: all).")
    parser.add_argument("--repeat", type=int, default=5, help="Times to time the one-pipeline diff (median).")
    arguments = parser.parse_args()
    count = arguments.pipelines
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        mirrors = ChartMirrors({MIRROR_FROM: charts.url})
        repository = work / "repo"
        files = synthetic_repository(repository, count)
        one = files[0]
        branch(repository, "first-push", {one: ("replicaCount: 1", "replicaCount: 7")})
        git(repository, "checkout", "-q", "-b", "second-push", "first-push")
        (repository / one).write_text((repository / one).read_text().replace("replicaCount: 7", "replicaCount: 8"))
        git(repository, "commit", "-q", "-am", "second push")
        git(repository, "checkout", "-q", "main")
        branch(repository, "defaults", {"pipelines/defaults.yaml": ("cpu: 100m", "cpu: 150m")})
        base = checkout(repository, "main", work / "base")
        head_one = checkout(repository, "second-push", work / "head-one")
        head_all = checkout(repository, "defaults", work / "head-all")

        workspace, cache = work / "workspace", work / "cache"
        bot_seconds(repository, "first-push", charts.url, workspace, cache)
        bot_times, cli_times = [], []
        for index in range(arguments.repeat):
            warm = shutil.copytree(cache, work / f"warm-cache-{index}")  # the head of the second push is not in it
            bot_times.append(bot_seconds(repository, "second-push", charts.url, workspace, warm))
            cli_times.append(cli_seconds([(base, one), (head_one, one)], mirrors, work / f"cli-one-{index}"))
        bot_one, cli_one = statistics.median(bot_times), statistics.median(cli_times)
        print(
            f"one pipeline changed, warm cache (median of {arguments.repeat}): kpops-bot diff {bot_one:.2f} s, "
            f"plain CLI twice {cli_one:.2f} s, ratio {bot_one / cli_one:.2f}x (target <= 0.6x)",
            flush=True,
        )

        bot_all = bot_seconds(repository, "defaults", charts.url, workspace, work / "cold-cache")
        sample = files[: arguments.sample] if arguments.sample else files
        timed = cli_seconds([(base, f) for f in sample] + [(head_all, f) for f in sample], mirrors, work / "cli-all")
        cli_all = timed * len(files) / len(sample)
        how = "measured" if len(sample) == len(files) else f"scaled from {len(sample)} per revision"
        print(
            f"root defaults changed ({count} pipelines x 2 revisions), cold cache: kpops-bot diff {bot_all:.2f} s, "
            f"plain CLI {cli_all:.2f} s ({how}), speed-up {cli_all / bot_all:.2f}x (target >= 2x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
