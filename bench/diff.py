"""`kpops-bot diff` against the plain kpops CLI on a synthetic repository of N pipelines, in one run.

    .venv/bin/python bench/diff.py [--pipelines 200] [--repeat 5] [--sample N] [--no-cold] [--before DIR]
                                   [--diff-stage-only | --one-pipeline-only]

Every figure is a median of `--repeat` runs taken in turns (interleaved), so a busy moment of the machine weighs on
all sides alike; each is printed with its ratio against the baseline measured in the same run.
1. One pipeline changed, render cache warm (a first push was diffed already; a second push changes the same
   pipeline again, so one pipeline is rendered at head): the whole `kpops-bot diff --format json` process against
   the plain CLI rendering that pipeline twice (base and head) with `kpops deploy --operation-mode manifest`,
   a) one render after the other, and b) both at once (two processes: what a person on two cores does).
   Target: at most 0.5x the parallel pair.
2. The diff stage: the root `defaults.yaml` changed (every pipeline affected) and every render of both revisions is
   in the cache already, so the `kpops-bot diff` process does nothing but start, read git, read the cache and diff.
   Target: at most 1.5 s for 300 pipelines.
3. (unless `--no-cold`) The same change, cold cache: `kpops-bot diff` (one run) against a) the plain CLI over all
   pipelines at both revisions, one after the other (`--sample N` times it on N pipelines per revision and
   scales), and b) kpops' own multi-pipeline mode, `kpops deploy a b …` over every pipeline, the base in one
   process and the head in another, at once (`--sample N`: timed on N and on 1 pipeline per revision and
   extrapolated along that line, kpops' import being paid once per process). Target: at least 4x b).
The repository has no custom code (the fixture's custom component is left out: no synthetic pipeline uses it, and
it would make every render read the whole tree and every change to it affect every pipeline).
`--diff-stage-only` runs 2 alone (after the run that fills its cache), `--one-pipeline-only` 1 alone.
`--before DIR` runs the bot of 1, 2 (and, once each, 3) also from another source tree (e.g. `git archive <commit> |
tar -x -C DIR`), in the same turns, and prints before/after ratios. Both sides use kpops-bot's helm (the CLI through
the helm executable shim), so neither pays more for Helm.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIRROR_FROM, cli_seconds, git, multi_pipeline_seconds, synthetic_repository  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.helm.mirrors import ChartMirrors  # noqa: E402


@dataclass(frozen=True)
class Bot:
    """A `kpops-bot diff` to time: `code` runs another source tree's command line (first on its path; the render
    processes it starts run this tree's engine). That tree is not in the sandbox, so such a bot and the one it is
    compared with render with `--sandbox off`."""

    code: Path | None = None
    sandbox_off: bool = False


def bot_seconds(
    repository: Path,
    head: str,
    charts_url: str,
    workspace: Path,
    cache: Path,
    bot: Bot = Bot(),
    cpu: list[float] | None = None,
) -> float:
    """The whole `kpops-bot diff` process; its CPU seconds (with the processes it waited for) go to `cpu`. It may
    write bytecode, as an installed package has it (with PYTHONDONTWRITEBYTECODE set, every run compiled each of the
    bot's modules again: a third of a second of a cached diff)."""
    start = ["-m", "kpops_bot"]
    if bot.code is not None:
        start = ["-c", f"import sys; sys.path.insert(0, {str(bot.code)!r}); from kpops_bot.cli import main; main()"]
    command = [
        sys.executable, *start, "diff", "--repo", str(repository), "--base", "main", "--head", head,
        "--chart-mirror", f"{MIRROR_FROM}={charts_url}", "--workspace", str(workspace), "--cache-dir", str(cache),
        "--helm", "builtin", "--format", "json", *(["--sandbox", "off"] if bot.sandbox_off else []),
    ]  # fmt: skip
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
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


def interleaved(sides: dict[str, Callable[[int], float]], repeat: int) -> dict[str, float]:
    """Each side timed `repeat` times, taking turns; the median of each."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(repeat):
        for name, timed in sides.items():
            times[name].append(timed(index))
    return {name: statistics.median(values) for name, values in times.items()}


def report(medians: dict[str, float]) -> None:
    """Each median with its ratio to the bot's; the bot before this tree against it, both without a sandbox."""
    bot = medians["kpops-bot diff"]
    for name, seconds in medians.items():
        print(f"   {name}: {seconds:.2f} s, kpops-bot diff / this = {bot / seconds:.2f}x", flush=True)
    if "kpops-bot diff (before), sandbox off" in medians:
        after, before = medians["kpops-bot diff, sandbox off"], medians["kpops-bot diff (before), sandbox off"]
        print(f"   after / before (both sandbox off): {after / before:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=200)
    parser.add_argument("--sample", type=int, default=0, help="CLI renders per revision to time (0: all).")
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each side (median).")
    parser.add_argument("--no-cold", action="store_true", help="Leave out the cold root-defaults change (long).")
    parser.add_argument("--before", type=Path, help="Another source tree of kpops-bot to time beside this one.")
    parser.add_argument("--diff-stage-only", action="store_true", help="Only 2: the diff stage, every render cached.")
    parser.add_argument("--one-pipeline-only", action="store_true", help="Only 1: one pipeline changed, warm cache.")
    arguments = parser.parse_args()
    if arguments.sample == 1:
        parser.error("--sample takes at least 2 pipelines (the multi-pipeline mode is extrapolated from 1 and N)")
    count, repeat = arguments.pipelines, arguments.repeat
    before = arguments.before.resolve() if arguments.before else None
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        mirrors = ChartMirrors({MIRROR_FROM: charts.url})
        repository = work / "repo"
        files = synthetic_repository(repository, count, custom_code=False)
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
        bots = {"kpops-bot diff": Bot()}
        if before:
            bots |= {
                "kpops-bot diff, sandbox off": Bot(sandbox_off=True),
                "kpops-bot diff (before), sandbox off": Bot(before, sandbox_off=True),
            }

        def one_pipeline(name: str, bot: Bot) -> Callable[[int], float]:
            def timed(index: int) -> float:
                warm = shutil.copytree(cache, work / f"warm-{index}-{name}")  # without the second push
                return bot_seconds(repository, "second-push", charts.url, workspace, warm, bot)

            return timed

        one_renders = [(base, one), (head_one, one)]
        if arguments.diff_stage_only:
            diff_stage(repository, charts.url, work, bots, count, repeat)
            return
        medians = interleaved(
            {name: one_pipeline(name, bot) for name, bot in bots.items()}
            | {
                "CLI twice, one after the other": lambda i: cli_seconds(one_renders, mirrors, work / f"cli-seq-{i}"),
                "CLI twice, at once": lambda i: cli_seconds(one_renders, mirrors, work / f"cli-par-{i}", parallel=True),
            },
            repeat,
        )
        print(f"1. one pipeline changed, warm cache (medians of {repeat}, interleaved):", flush=True)
        report(medians)
        print("   target: <= 0.5x the CLI twice at once", flush=True)
        if arguments.one_pipeline_only:
            return

        cold = diff_stage(repository, charts.url, work, bots, count, repeat)

        if arguments.no_cold:
            return
        cold_change(cold, (base, head_all), files, arguments.sample, mirrors, work)
        if before:
            cold_before_after(repository, charts.url, work, bots)


def cold_change(
    cold: float, checkouts: tuple[Path, Path], files: list[str], sample_size: int, mirrors: ChartMirrors, work: Path
) -> None:
    """3: the bot's cold run of the root-defaults change against the plain CLI and kpops' multi-pipeline mode."""
    base, head_all = checkouts
    count = len(files)
    sample = files[:sample_size] if sample_size else files
    timed = cli_seconds([(base, f) for f in sample] + [(head_all, f) for f in sample], mirrors, work / "cli-all")
    cli_all = timed * len(files) / len(sample)
    how = "measured" if len(sample) == len(files) else f"scaled from {len(sample)} per revision"
    multi, multi_how = multi_pipeline(base, head_all, files, sample, mirrors, work)
    print(
        f"3. root defaults changed ({count} pipelines x 2 revisions), cold cache: kpops-bot diff {cold:.2f} s\n"
        f"   plain CLI once per pipeline, one after the other: {cli_all:.2f} s ({how}), "
        f"speed-up {cli_all / cold:.2f}x\n"
        f"   kpops' multi-pipeline mode, base and head in a process each, at once: {multi:.2f} s ({multi_how}), "
        f"speed-up {multi / cold:.2f}x (target >= 4x)",
        flush=True,
    )


def cold_before_after(repository: Path, charts_url: str, work: Path, bots: dict[str, Bot]) -> None:
    """3 with `--before`: the cold run of this tree and of the other, one each, both without a sandbox."""
    times = {
        name: bot_seconds(repository, "defaults", charts_url, work / "workspace", work / f"cold-{index}", bot)
        for index, (name, bot) in enumerate(bots.items())
        if bot.sandbox_off
    }
    after, before = times["kpops-bot diff, sandbox off"], times["kpops-bot diff (before), sandbox off"]
    print(f"   cold, both sandbox off: {after:.2f} s against {before:.2f} s before: {after / before:.2f}x", flush=True)


def multi_pipeline(
    base: Path, head: Path, files: list[str], sample: list[str], mirrors: ChartMirrors, work: Path
) -> tuple[float, str]:
    """kpops' multi-pipeline mode (`kpops deploy a b …`) over every pipeline, the base checkout in one process and
    the head in another, at once; with a sample, measured on it and on one pipeline per revision, and extrapolated
    along that line (kpops' import is paid once per process, not per pipeline)."""
    timed = multi_pipeline_seconds([(base, sample), (head, sample)], mirrors, work / "multi-sample")
    if len(sample) == len(files):
        return timed, "measured"
    one = multi_pipeline_seconds([(base, files[:1]), (head, files[:1])], mirrors, work / "multi-one")
    per_pipeline = (timed - one) / (len(sample) - 1)
    return one + per_pipeline * (len(files) - 1), f"extrapolated from 1 and {len(sample)} per revision"


def diff_stage(repository: Path, charts_url: str, work: Path, bots: dict[str, Bot], count: int, repeat: int) -> float:
    """2: the root-defaults change with every render cached; returns the seconds of the run that filled the cache.

    Each bot runs once untimed first: a bot stores what it derives from a render (its manifests' schema checks)
    with it in the cache, and writes it into an entry made by another bot on first use. Every diff is computed
    in every run: nothing memoizes a diff result."""
    workspace, everything = work / "workspace", work / "cache-all"
    cold = bot_seconds(repository, "defaults", charts_url, workspace, everything)  # fills the cache: both sides
    for bot in bots.values():
        bot_seconds(repository, "defaults", charts_url, workspace, everything, bot)
    cpu: dict[str, list[float]] = {name: [] for name in bots}

    def timed(name: str, bot: Bot) -> Callable[[int], float]:
        return lambda _: bot_seconds(repository, "defaults", charts_url, workspace, everything, bot, cpu[name])

    load = os.getloadavg()[0]
    medians = interleaved({name: timed(name, bot) for name, bot in bots.items()}, repeat)
    print(f"2. root defaults changed ({count} pipelines x 2 revisions), every render cached:", flush=True)
    report(medians)
    for name, seconds in cpu.items():
        print(f"   {name}: {statistics.median(seconds):.2f} s of CPU (the process and those it waited for)", flush=True)
    print(f"   load average (1 min) before / after: {load:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("   target: <= 1.5 s for 300 pipelines", flush=True)
    return cold


if __name__ == "__main__":
    main()
