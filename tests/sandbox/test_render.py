"""The sandbox against a hostile custom component, through `kpops-bot render` and `diff` as a user runs them.

Default settings: `sandbox: auto`, which takes bubblewrap's namespaces here (scripts/setup installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kpops_bot.helm.chart_server import ChartServer
from testbed.repos import MIRROR_FROM, GitRepo
from tests.support.hostile import Listener, Targets, listening, loot, make_hostile, planted_files, processes_with


def bot_files(folder: Path, secret: str) -> tuple[Path, Path]:
    """A settings file and a database as the bot keeps them, both holding `secret` (the database world-readable)."""
    folder.mkdir()
    settings = folder / "bot.yaml"
    settings.write_text(f"github:\n  token: {secret}\n")
    settings.chmod(0o600)
    database = folder / "kpops-bot.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE jobs (payload TEXT)")
        connection.execute("INSERT INTO jobs VALUES (?)", (secret,))
    database.chmod(0o644)
    return settings, database


def kpops_bot(*args: str, secret: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user starts it, with a forge token in its environment."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "KPOPS_BOT_GITHUB__TOKEN": secret}
    return subprocess.run(
        [sys.executable, "-m", "kpops_bot", *args], env=env, capture_output=True, text=True, check=False, timeout=600
    )


def test_render_of_a_hostile_component_finds_nothing_writes_nothing_connects_nowhere_leaves_nothing(
    tmp_path: Path, deployment_repo: GitRepo, chart_server: ChartServer
) -> None:
    """The acceptance test of the sandbox: default settings, every attack fails, the pipelines still render."""
    secret = f"bot-secret-{uuid.uuid4().hex}"
    settings, database = bot_files(tmp_path / "bot-data", secret)
    workspace = tmp_path / "workspace"
    outside = tmp_path / "outside"
    outside.mkdir()
    with listening() as listener:
        targets = Targets(
            secret=secret,
            read=[settings, database],
            write=[outside, tmp_path / "bot-data", workspace, workspace / "mirrors", workspace / "checkouts"],
            port=listener.port,
        )
        make_hostile(deployment_repo, targets)
        completed = kpops_bot(
            "render",
            "--repo",
            str(deployment_repo.path),
            "--pipeline",
            "hostile",
            "--pipeline",
            "word-count",
            "--format",
            "json",
            "--chart-mirror",
            f"{MIRROR_FROM}={chart_server.url}",
            "--workspace",
            str(workspace),
            secret=secret,
        )
        assert_attack_failed(listener, targets, completed.stdout)

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines()[0] == "sandbox: namespaces (bubblewrap)"
    pipelines = {render["name"]: render for render in json.loads(completed.stdout)["pipelines"]}
    assert pipelines["word-count"]["error"] is None and len(pipelines["word-count"]["components"]) == 3
    got = loot(pipelines["hostile"])
    assert got["environ"] == [] and got["read"] == {} and got["connected"] is False
    assert got["daemon_started"] is True  # it started, and is gone (checked above)
    assert got["processes_started"] < 300 and got["allocated_6_gib"] is False
    assert planted_files(tmp_path) == []


def assert_attack_failed(listener: Listener, targets: Targets, output: str) -> None:
    """Nothing reached the port, no process is left, the secret is nowhere in what was printed."""
    assert listener.connections == []
    assert processes_with(f"sleep {targets.sleep}") == []
    assert targets.secret not in output


@pytest.mark.kpops  # `kpops-bot diff` processes, each loading kpops
def test_diff_names_its_sandbox_first_and_refuses_a_layer_that_cannot_work(
    tmp_path: Path, deployment_repo: GitRepo
) -> None:
    base = deployment_repo.git("rev-parse", "HEAD")
    deployment_repo.replace("pipelines/word-count/pipeline.yaml", "replicaCount: 2", "replicaCount: 3")
    head = deployment_repo.commit("scale")
    args = ["diff", "--repo", str(deployment_repo.path), "--base", base, "--head", head]
    args += ["--workspace", str(tmp_path / "ws"), "--no-cache", "--format", "json", "--helm", "builtin"]
    completed = kpops_bot(*args, "--pipeline", "nothing-matches-this", secret="x")
    assert completed.stderr.splitlines()[0] == "sandbox: namespaces (bubblewrap)"
    off = kpops_bot(*args, "--sandbox", "off", "--pipeline", "nothing-matches-this", secret="x")
    assert off.stderr.splitlines()[0] == "sandbox: off (pull request code runs with the bot's own rights)"
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    env = {"PATH": str(only_git), "HOME": os.environ.get("HOME", "/root")}  # a machine without bubblewrap
    missing = subprocess.run(
        [sys.executable, "-m", "kpops_bot", *args, "--sandbox", "namespaces"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "namespaces: bubblewrap (bwrap) is not installed" in missing.stderr


def test_without_the_sandbox_the_same_attack_succeeds(
    tmp_path: Path, deployment_repo: GitRepo, chart_server: ChartServer
) -> None:
    """What `sandbox: off` gives up: the attack above, unsandboxed, reads the bot's secrets and reaches the port.

    Only the process tree is still ended (the render adopts and kills orphans) and the render limits still apply.
    """
    secret = f"bot-secret-{uuid.uuid4().hex}"
    settings, database = bot_files(tmp_path / "bot-data", secret)
    outside = tmp_path / "outside"
    outside.mkdir()
    with listening() as listener:
        targets = Targets(secret=secret, read=[settings, database], write=[outside], port=listener.port)
        make_hostile(deployment_repo, targets)
        completed = kpops_bot(
            "render",
            "--repo",
            str(deployment_repo.path),
            "--pipeline",
            "hostile",
            "--format",
            "json",
            "--chart-mirror",
            f"{MIRROR_FROM}={chart_server.url}",
            "--workspace",
            str(tmp_path / "workspace"),
            "--sandbox",
            "off",
            secret=secret,
        )
        assert processes_with(f"sleep {targets.sleep}") == []
        assert listener.connections == [b"connected"]
    got = loot(json.loads(completed.stdout)["pipelines"][0])
    assert got["environ"] and secret in got["read"][str(settings)]
    assert planted_files(outside) == [outside / "planted-by-pull-request"]
