"""Bounded workspace: mirrors of repositories unused for long are removed (and cloned again when needed), and a
checkout left by a process killed in the middle of its job is removed; a living process's checkout stays."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo

_HOLD_A_CHECKOUT = """
import sys, time
from pathlib import Path
from kpops_bot.workspace import Workspace
repository = Workspace(Path(sys.argv[1])).repository(sys.argv[2])
with repository.checkout(repository.resolve("HEAD")) as folder:
    print(folder, flush=True)
    time.sleep(600)
"""


def test_mirrors_unused_for_long_go_and_come_back(tmp_path: Path, deployment_repo: GitRepo) -> None:
    other = GitRepo.from_fixture(tmp_path / "other-repo")
    workspace = Workspace(tmp_path / "workspace")
    old = workspace.repository(str(deployment_repo.path))
    recent = workspace.repository(str(other.path))
    month_ago = time.time() - 31 * 86400
    os.utime(old.path.with_suffix(".lock"), (month_ago, month_ago))

    assert workspace.prune_mirrors(30 * 86400) == [old.path]
    assert not old.path.exists()
    assert recent.path.exists()
    assert workspace.prune_mirrors(30 * 86400) == []  # nothing twice

    again = workspace.repository(str(deployment_repo.path))  # cloned again on demand
    assert again.resolve("HEAD") == deployment_repo.git("rev-parse", "HEAD").strip()


@pytest.mark.subprocess  # the killed holder is a fresh interpreter
def test_checkouts_of_a_killed_process_go_and_living_ones_stay(tmp_path: Path, deployment_repo: GitRepo) -> None:
    workspace = Workspace(tmp_path / "workspace")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_CHECKOUT, str(workspace.root), str(deployment_repo.path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    orphan = Path(holder.stdout.readline().strip())
    repository = workspace.repository(str(deployment_repo.path))
    with repository.checkout(repository.resolve("HEAD")) as own:
        assert workspace.prune_checkouts() == []  # both processes live
        holder.kill()
        holder.wait()
        assert orphan.is_dir()  # SIGKILL: its `finally` never ran
        assert workspace.prune_checkouts() == [orphan]
        assert not orphan.exists()
        assert own.is_dir()
    assert list((workspace.root / "checkouts").iterdir()) == []
