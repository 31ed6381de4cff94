"""Throughput of the engine against the plain kpops CLI, one after the other in the same run.

    .venv/bin/python bench/render.py [--sizes 1,20,100]

For each N it builds a git repository of N synthetic pipelines (copies of the fixture word-count pipeline with
their own names and replica counts), then renders all of them
- with the engine (fork server + built-in helm service, default workers), and
- with `kpops deploy --operation-mode manifest` run once per pipeline, sequentially, with kpops-bot's helm
  executable on PATH forwarding to the same kind of helm service (so both sides pay the same for Helm),
and prints pipelines per second for both and their ratio. The target at N = 100 on 2 cores is at least 1.8x.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpops_bot.engine.pool import RenderPool  # noqa: E402
from kpops_bot.engine.settings import EngineSettings, HelmChoice  # noqa: E402
from kpops_bot.helm import executable  # noqa: E402
from kpops_bot.helm import service as helm_service  # noqa: E402
from kpops_bot.helm.chart_server import ChartServer  # noqa: E402
from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors  # noqa: E402
from kpops_bot.render import RenderSpec, render_revision  # noqa: E402
from kpops_bot.workspace import Workspace  # noqa: E402

FIXTURE = ROOT / "fixtures" / "deployment-repo"
MIRROR_FROM = "bakdata-streams-bootstrap"


def synthetic_repository(target: Path, count: int) -> list[str]:
    """A deployment repository with `count` pipelines; returns their pipeline files."""
    shutil.copytree(FIXTURE, target)
    shutil.rmtree(target / "pipelines")
    (target / "pipelines").mkdir()
    shutil.copy(FIXTURE / "pipelines" / "defaults.yaml", target / "pipelines" / "defaults.yaml")
    template = (FIXTURE / "pipelines" / "word-count" / "pipeline.yaml").read_text()
    files = []
    for index in range(count):
        folder = target / "pipelines" / f"group-{index % 10}" / f"pipeline-{index:03d}"
        folder.mkdir(parents=True)
        (folder / "pipeline.yaml").write_text(template.replace("replicaCount: 2", f"replicaCount: {index % 5 + 1}"))
        files.append(str((folder / "pipeline.yaml").relative_to(target)))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=target, check=True)
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "synthetic"], cwd=target, check=True)
    return files


def engine_seconds(repository: Path, workspace: Workspace, settings: EngineSettings, count: int) -> float:
    with RenderPool(settings) as pool:
        started = time.perf_counter()
        results = render_revision(workspace, pool, str(repository), "main", [], RenderSpec())
        elapsed = time.perf_counter() - started
    failed = [result.error for result in results if not result.ok]
    if len(results) != count or failed:
        raise SystemExit(f"engine: {len(results)} results, failures: {failed[:3]}")
    return elapsed


def cli_seconds(repository: Path, files: list[str], mirrors: ChartMirrors, work: Path) -> float:
    helm_bin = executable.install(work / "bin").parent
    socket_path = str(work / "cli-helm.sock")
    service = helm_service.start(socket_path, {"PATH": "/usr/bin:/bin"})
    kpops = Path(sys.executable).parent / "kpops"
    try:
        started = time.perf_counter()
        for index, file in enumerate(files):
            home = work / f"cli-home-{index}"
            env = {
                "PATH": f"{helm_bin}:/usr/bin:/bin",
                "HOME": str(home),
                "TMPDIR": str(work),
                "NO_COLOR": "1",
                MIRRORS_ENV: mirrors.to_json(),
                helm_service.HELM_SOCKET_ENV: socket_path,
            }
            subprocess.run(
                [str(kpops), "deploy", file, "--operation-mode", "manifest"],
                cwd=repository,
                env=env,
                check=True,
                capture_output=True,
            )
        return time.perf_counter() - started
    finally:
        assert service.stdin is not None
        service.stdin.close()
        service.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,20,100", help="Comma-separated pipeline counts.")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    with ChartServer(ROOT / "fixtures" / "charts") as charts, tempfile.TemporaryDirectory() as scratch:
        mirrors = ChartMirrors({MIRROR_FROM: charts.url})
        settings = EngineSettings(helm=HelmChoice.BUILTIN, chart_mirrors=dict(mirrors.mapping))
        print(f"workers={settings.workers}")
        print(f"{'N':>5} {'engine s':>9} {'engine p/s':>11} {'cli s':>8} {'cli p/s':>8} {'ratio':>6}")
        for count in sizes:
            work = Path(scratch) / f"n{count}"
            work.mkdir()
            repository = work / "repo"
            files = synthetic_repository(repository, count)
            engine = engine_seconds(repository, Workspace(work / "workspace"), settings, count)
            cli = cli_seconds(repository, files, mirrors, work)
            print(
                f"{count:>5} {engine:>9.2f} {count / engine:>11.2f} {cli:>8.2f} {count / cli:>8.2f} "
                f"{cli / engine:>5.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
