"""The sandbox works when the bot's Python is reached through a symlinked path.

`/opt/bot -> /srv/bot-1.2` is how many deployments switch releases. The sandbox bound only the resolved folders,
while the interpreter it started was named by the link: `sandbox: no layer works here (bwrap: execvp
/opt/bot/bin/python: No such file or directory)`, and the bot refused to start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.sandbox.layers import Layer, _probe
from testbed.repos import MIRROR_FROM, GitRepo


def test_a_render_runs_sandboxed_with_python_reached_through_a_symlink(
    tmp_path: Path, deployment_repo: GitRepo, chart_server: ChartServer
) -> None:
    if (why := _probe(Layer.NAMESPACES, 61000)) is not None:
        pytest.skip(f"namespaces do not work on this machine at all: {why}")
    prefix = Path(sys.prefix)
    if not Path(sys.executable).is_relative_to(prefix):
        pytest.skip(f"the interpreter {sys.executable} is not inside its prefix {prefix}: no folder to link to")
    linked = tmp_path / "linked-python"
    linked.symlink_to(prefix, target_is_directory=True)
    python = linked / Path(sys.executable).relative_to(prefix)
    command = [str(python), "-m", "kpops_bot", "render", "--repo", str(deployment_repo.path)]
    command += ["--pipeline", "word-count", "--format", "json", "--sandbox", "namespaces"]
    command += ["--chart-mirror", f"{MIRROR_FROM}={chart_server.url}", "--workspace", str(tmp_path / "workspace")]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines()[0] == "sandbox: namespaces (bubblewrap)"
    [render] = json.loads(completed.stdout)["pipelines"]
    assert render["error"] is None and len(render["components"]) == 3
