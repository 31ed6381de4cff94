"""The render pool starts its fork server before the sandbox probe has answered, in the layer the probe will most
likely confirm; renders run only in the layer the probe confirms.

Where bubblewrap is installed but a confined render cannot start (a container's masked /proc), the fork server is
started in bubblewrap first and the probe then refuses namespaces. A `bwrap` placed first on PATH plays that
machine: it runs the real bubblewrap, except for the probe, which it refuses as bubblewrap does there, and it logs
every command line it gets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.model.kinds import SandboxChoice
from kpops_bot.sandbox import layers as sandbox
from kpops_bot.sandbox.layers import Layer, SandboxUnavailableError, likely
from testbed.repos import MIRROR_FROM, GitRepo
from tests.support.hostile import (
    Targets,
    listening,
    loot,
    make_hostile,
    planted_files,
    processes_with,
    python_readable_by_others,
)

REFUSAL = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted"


@pytest.fixture
def probe_refused(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(folder of the `bwrap` that refuses only the probe, its log of command lines); probes forgotten after."""
    real = shutil.which("bwrap")
    assert real is not None, "scripts/setup installs bubblewrap"
    folder = tmp_path / "refusing-bin"
    folder.mkdir()
    log = tmp_path / "bwrap-calls.log"
    script = folder / "bwrap"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        f'case " $* " in *" --probe "*) echo "{REFUSAL}" >&2; exit 1;; esac\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    sandbox._probe.cache_clear()  # probed once per process: with this PATH, probe again
    yield folder, log
    sandbox._probe.cache_clear()


def fork_servers_started(log: Path) -> list[str]:
    calls = log.read_text().splitlines() if log.exists() else []
    return [call for call in calls if "kpops_bot.engine.zygote" in call and "--probe" not in call]


def left_running(marker: str) -> list[str]:
    """Processes with `marker` in their command line once those being ended have died.

    The pool kills bubblewrap and waits for it; the process bubblewrap started inside its namespaces dies of that
    (its parent-death signal) a moment later, which nothing here can wait for but its disappearance.
    """
    deadline = time.monotonic() + 30
    while (found := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def test_the_first_guess_is_the_first_layer_the_choice_tries_whose_prerequisite_is_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert likely(SandboxChoice.OFF) is Layer.OFF
    assert likely(SandboxChoice.AUTO) is Layer.NAMESPACES
    assert likely(SandboxChoice.NAMESPACES) is Layer.NAMESPACES
    assert likely(SandboxChoice.UID) is (Layer.UID if os.geteuid() == 0 else None)
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bubblewrap
    assert likely(SandboxChoice.NAMESPACES) is None
    assert likely(SandboxChoice.AUTO) is (Layer.UID if os.geteuid() == 0 else None)


@pytest.mark.subprocess  # the fork server
def test_a_refused_probe_ends_the_fork_server_started_early_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, probe_refused: tuple[Path, Path]
) -> None:
    folder, log = probe_refused
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    settings = EngineSettings(sandbox=SandboxChoice.NAMESPACES, work_dir=work)
    pool = RenderPool(settings, checkouts=[tmp_path])
    with pytest.raises(SandboxUnavailableError, match="Can't mount proc"):
        pool.start()
    started = fork_servers_started(log)
    assert len(started) == 1  # it was started before the probe answered: the case under test
    assert left_running(str(work)) == []  # the fork server (bound to the pool's folder) and the helm service
    assert list(work.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the layer the probe falls back to, `uid`, needs the bot to be root")
def test_a_render_runs_in_the_layer_the_probe_gives_not_in_the_fork_server_started_before_it(
    tmp_path: Path, deployment_repo: GitRepo, chart_server: ChartServer, probe_refused: tuple[Path, Path]
) -> None:
    """`auto` on a machine whose bubblewrap cannot confine a render: the fork server started in bubblewrap is
    ended unused, the renders run as separate uids, and the attack fails as it does under that layer."""
    folder, log = probe_refused
    secret = f"bot-secret-{uuid.uuid4().hex}"
    open_folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"kpops-bot-start-test-{uuid.uuid4().hex}"
    open_folder.mkdir(mode=0o755)  # renders of other uids read the checkouts below it (pytest's folders are 0700)
    scratch = open_folder / "tmp"
    scratch.mkdir()
    data = tmp_path / "bot-data"
    data.mkdir(mode=0o700)
    settings = data / "bot.yaml"
    settings.write_text(f"token: {secret}\n")
    try:
        with listening() as listener:
            targets = Targets(secret=secret, read=[settings], write=[data, open_folder], port=listener.port)
            make_hostile(deployment_repo, targets)
            env = {
                "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
                "HOME": str(Path.home()),
                "TMPDIR": str(scratch),
                "KPOPS_BOT_GITHUB__TOKEN": secret,
            }
            command = [sys.executable, "-m", "kpops_bot", "render", "--repo", str(deployment_repo.path)]
            command += ["--pipeline", "hostile", "--pipeline", "word-count", "--format", "json"]
            command += ["--chart-mirror", f"{MIRROR_FROM}={chart_server.url}"]
            command += ["--workspace", str(open_folder / "workspace")]
            completed = subprocess.run(
                [*python_readable_by_others(), *command], env=env, capture_output=True, text=True, check=False
            )
            assert completed.returncode == 0, completed.stderr
            assert processes_with(f"sleep {targets.sleep}") == []
        assert completed.stderr.splitlines()[0].startswith("sandbox: separate uid (namespaces unavailable: bwrap:")
        assert len(fork_servers_started(log)) == 1  # in bubblewrap, before the probe answered; never again
        pipelines = {render["name"]: render for render in json.loads(completed.stdout)["pipelines"]}
        assert pipelines["word-count"]["error"] is None
        got = loot(pipelines["hostile"])
        assert got["environ"] == [] and got["read"] == {} and got["written"] == []
        # Rendered as a separate uid, with the network of the machine: not inside the fork server started in
        # bubblewrap (no network there), which was ended unused.
        assert got["connected"] is True and set(listener.connections) == {b"connected"}
        assert planted_files(data, open_folder) == []
        assert [path.name for path in scratch.iterdir() if path.name.startswith("kpops-bot-")] == []
    finally:
        shutil.rmtree(open_folder, ignore_errors=True)
