"""The engine adds nothing and loses nothing: its manifests equal what the plain kpops CLI prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.targets import render_revision
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors
from kpops_bot.model.render import Mode, Operation, RenderSpec
from kpops_bot.workspace import Workspace
from testbed.repos import MIRROR_FROM, GitRepo

CLI_WIDTH = 1000


@pytest.fixture(scope="module")
def helm_on_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose `helm` is kpops-bot's built-in helm, for the plain kpops CLI."""
    folder = tmp_path_factory.mktemp("bin")
    helm = folder / "helm"
    helm.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c 'from kpops_bot.helm.executable import main; main()' \"$@\"\n"
    )
    helm.chmod(0o755)
    return folder


def kpops_cli(checkout: Path, pipeline_file: str, helm_bin: Path, server: ChartServer, *args: str) -> list[dict]:
    env = {
        "PATH": f"{helm_bin}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(checkout.parent / "home"),
        "NO_COLOR": "1",
        MIRRORS_ENV: ChartMirrors({MIRROR_FROM: server.url}).to_json(),
    }
    kpops = Path(sys.executable).parent / "kpops"
    completed = subprocess.run(
        [str(kpops), *args, pipeline_file], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert all(len(line) < CLI_WIDTH for line in completed.stdout.splitlines()), "the CLI would truncate"
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]


@pytest.mark.parametrize(
    ("mode", "operation", "environment"),
    [
        (Mode.MANIFEST, Operation.DEPLOY, None),
        (Mode.MANIFEST, Operation.DEPLOY, "prod"),
        (Mode.ARGO, Operation.DEPLOY, "dev"),
        (Mode.MANIFEST, Operation.RESET, None),
        (Mode.MANIFEST, Operation.CLEAN, None),
        (Mode.MANIFEST, Operation.DESTROY, None),
    ],
)
def test_engine_manifests_equal_the_kpops_cli(
    pool: RenderPool,
    workspace: Workspace,
    deployment_repo: GitRepo,
    chart_server: ChartServer,
    helm_on_path: Path,
    mode: Mode,
    operation: Operation,
    environment: str | None,
) -> None:
    spec = RenderSpec(environment=environment, mode=mode, operation=operation)
    results = render_revision(workspace, pool, str(deployment_repo.path), "HEAD", [], spec)
    assert len(results) == 4
    for result in results:
        assert result.ok, result.error
        engine = [manifest for component in result.components for manifest in component.manifests]
        args = [operation.value, "--operation-mode", mode.value]
        if environment:
            args += ["--environment", environment]
        cli = kpops_cli(deployment_repo.path, result.pipeline_file, helm_on_path, chart_server, *args)
        assert engine == cli, result.name
