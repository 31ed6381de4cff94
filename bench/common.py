"""Shared by the benchmarks: synthetic deployment repositories and the plain kpops CLI as the baseline."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from kpops_bot.helm import executable
from kpops_bot.helm import service as helm_service
from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "deployment-repo"
MIRROR_FROM = "bakdata-streams-bootstrap"


def synthetic_repository(target: Path, count: int, *, custom_code: bool = True) -> list[str]:
    """A deployment repository with `count` pipelines; returns their pipeline files. Without `custom_code` it
    leaves out the fixture's custom component (`kpops/`), which no synthetic pipeline uses but which makes every
    render read the whole tree and a change to it affect every pipeline."""
    shutil.copytree(FIXTURE, target)
    if not custom_code:
        shutil.rmtree(target / "kpops")
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


def git(repository: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args]
    return subprocess.run(command, cwd=repository, check=True, capture_output=True, text=True).stdout.strip()


def cli_seconds(
    renders: list[tuple[Path, str]], mirrors: ChartMirrors, work: Path, *, parallel: bool = False, at_once: int = 1
) -> float:
    """Seconds for `kpops deploy --operation-mode manifest`, once per (checkout, pipeline file): `at_once` processes
    at a time (the next starts as one ends), or all at once when `parallel` (what a person does for a base and a
    head render on two cores)."""
    return _kpops_seconds(
        [(root, [file]) for root, file in renders], mirrors, work, len(renders) if parallel else at_once
    )


def multi_pipeline_seconds(
    batches: list[tuple[Path, list[str]]], mirrors: ChartMirrors, work: Path, *, processes: int = 2
) -> float:
    """Seconds for kpops' own multi-pipeline mode: `kpops deploy --operation-mode manifest a b …` over the
    (checkout, pipeline files) batches in `processes` processes in all, running at once: each batch's files split
    over its share of them (kpops imported once per process, each pipeline rendered in turn in it)."""
    each = max(1, processes // len(batches))
    split = [(root, files[index::each]) for root, files in batches for index in range(each)]
    split = [(root, files) for root, files in split if files]
    return _kpops_seconds(split, mirrors, work, len(split))


def _kpops_seconds(batches: list[tuple[Path, list[str]]], mirrors: ChartMirrors, work: Path, at_once: int) -> float:
    """`kpops deploy` once per (checkout, pipeline files), `at_once` processes at a time, with kpops-bot's helm
    executable on PATH forwarding to a helm service (the helm client the bot's renders use)."""
    work.mkdir(parents=True, exist_ok=True)
    helm_bin = executable.install(work / "bin").parent
    socket_path = str(work / "cli-helm.sock")
    key = helm_service.new_key()
    service = helm_service.start(socket_path, {"PATH": "/usr/bin:/bin"}, key)
    kpops = Path(sys.executable).parent / "kpops"
    try:
        started = time.perf_counter()
        running: list[subprocess.Popen[bytes]] = []
        for index, (repository, files) in enumerate(batches):
            home = work / f"cli-home-{index}"
            env = {
                "PATH": f"{helm_bin}:/usr/bin:/bin",
                "HOME": str(home),
                "TMPDIR": str(work),
                "NO_COLOR": "1",
                MIRRORS_ENV: mirrors.to_json(),
                helm_service.HELM_SOCKET_ENV: socket_path,
            }
            grant = helm_service.Grant(env=env, files=[str(repository), str(work)], charts=[], cwd=str(repository))
            env[helm_service.HELM_GRANT_ENV] = grant.sign(key)
            command = [str(kpops), "deploy", *files, "--operation-mode", "manifest"]
            while len(running) >= at_once:  # renders of one size: the oldest ends first
                _ended(running.pop(0))
            log = (work / f"cli-{index}.log").open("wb")  # a file: a pipe left unread would stall a chatty kpops
            running.append(subprocess.Popen(command, cwd=repository, env=env, stdout=subprocess.DEVNULL, stderr=log))
            log.close()
        for process in running:
            _ended(process)
        return time.perf_counter() - started
    finally:
        assert service.stdin is not None
        service.stdin.close()
        service.wait()


def _ended(process: subprocess.Popen[bytes]) -> None:
    if process.wait() != 0:
        raise SystemExit(f"kpops deploy failed ({process.returncode}): {process.args}")
