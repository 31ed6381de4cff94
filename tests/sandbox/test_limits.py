"""The sandbox's limits, render by render: memory, processes, time, and what a render leaves behind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import render_revision
from kpops_bot.model.render import PipelineRender, RenderSpec
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo
from tests.support.hostile import processes_with

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
ALIAS_BOMB = """\
- type: producer-app
  name: bomb
  values:
    image: example/bomb
    imageTag: "1"
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.fixture(scope="module")
def small_pool(engine_settings: EngineSettings) -> Iterator[RenderPool]:
    """Renders with 512 MiB and a short timeout, so that bombs go off quickly."""
    settings = engine_settings.model_copy(update={"render_memory_mb": 512, "render_timeout": 20.0})
    with RenderPool(settings) as pool:
        yield pool


def word_count(workspace: Workspace, pool: RenderPool, repo: GitRepo) -> PipelineRender:
    [result] = render_revision(workspace, pool, str(repo.path), "HEAD", ["word-count"], RenderSpec())
    return result


def test_a_memory_bomb_in_a_custom_component_ends_at_the_memory_limit(
    small_pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo
) -> None:
    deployment_repo.write("kpops/components/bomb/__init__.py", "hoard = [bytearray(1 << 20) for _ in range(6 << 10)]\n")
    deployment_repo.commit("a component that takes 6 GiB")
    result = word_count(workspace, small_pool, deployment_repo)
    assert result.error is not None
    assert result.error.kind == "limit"
    assert result.error.message == f"{WORD_COUNT}: the render exceeded its memory limit of 512 MiB"


def test_a_yaml_alias_bomb_ends_at_the_memory_limit(
    small_pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo
) -> None:
    deployment_repo.write(WORD_COUNT, ALIAS_BOMB)
    deployment_repo.commit("nine levels of aliases")
    result = word_count(workspace, small_pool, deployment_repo)
    assert result.error is not None
    assert result.error.message == f"{WORD_COUNT}: the render exceeded its memory limit of 512 MiB"


def test_a_daemon_started_by_a_render_is_gone_after_its_timeout(
    engine_settings: EngineSettings, workspace: Workspace, deployment_repo: GitRepo
) -> None:
    marker = f"{4000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"  # this run's own
    deployment_repo.write(
        "kpops/components/lingering/__init__.py",
        f"import subprocess, time\nsubprocess.Popen(['setsid', 'sleep', '{marker}'])\ntime.sleep(600)\n",
    )
    deployment_repo.commit("a component that leaves a daemon and never finishes")
    with RenderPool(engine_settings.model_copy(update={"render_timeout": 2.0})) as pool:
        result = word_count(workspace, pool, deployment_repo)
    assert result.error is not None and result.error.kind == "timeout"
    assert processes_with(f"sleep {marker}") == []


def test_a_render_cannot_start_more_processes_than_its_limit(
    pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo, tmp_path: Path
) -> None:
    deployment_repo.write(
        "kpops/components/forks/__init__.py",
        "import subprocess\n"
        "started = []\n"
        "try:\n"
        "    for _ in range(300):\n"
        "        started.append(subprocess.Popen(['sleep', '60']))\n"
        "except OSError:\n"
        "    pass\n"
        "raise RuntimeError(f'started {len(started)} processes')\n",
    )
    deployment_repo.commit("a component that starts 300 processes")
    result = word_count(workspace, pool, deployment_repo)
    assert result.error is not None
    started = int(result.error.message.rpartition("started ")[2].split()[0])
    assert 0 < started < pool.settings.render_processes


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ('b\'{"name": "word-count", "forged": true\'', "the render returned a malformed result"),
        ("b'x' * (65 << 20)", "the render's result is over 64 MiB"),
    ],
    ids=["malformed", "oversized"],
)
def test_what_a_render_writes_into_its_result_pipe_is_checked_before_use(
    pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo, written: str, message: str
) -> None:
    deployment_repo.write(
        "kpops/components/forger/__init__.py",
        "import os, stat\n"
        "for fd in map(int, os.listdir('/proc/self/fd')):\n"
        "    try:\n"
        "        if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        f"            os.write(fd, {written})\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n",
    )
    deployment_repo.commit("a component that writes its own result")
    result = word_count(workspace, pool, deployment_repo)
    assert result.error is not None
    assert result.error.message == f"{WORD_COUNT}: {message}"


CHART_BOMB_COMPONENT = """\
from kpops.components.base_components.helm_app import HelmApp


class ChartBomb(HelmApp):
    @property
    def helm_chart(self) -> str:
        return "charts/bomb"
"""


def test_a_chart_template_bomb_ends_the_render_at_its_memory_limit(
    small_pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo
) -> None:
    """The chart's templates run in a helm worker within the render's own memory limit: not in the shared helm
    service, whose memory a 400 MB `repeat` once took to 3.1 GiB while the render's limit was 256 MiB."""
    deployment_repo.write("charts/bomb/Chart.yaml", "apiVersion: v2\nname: bomb\nversion: 0.1.0\n")
    deployment_repo.write(
        "charts/bomb/templates/bomb.yaml", 'kind: ConfigMap\ndata:\n  x: {{ repeat 900000000 "x" }}\n'
    )
    deployment_repo.write("kpops/components/chart_bomb/__init__.py", CHART_BOMB_COMPONENT)
    deployment_repo.write(
        "pipelines/chart-bomb/pipeline.yaml", "- type: chart-bomb\n  name: bomb\n  namespace: x\n  values: {}\n"
    )
    deployment_repo.commit("a chart whose template repeats a string 900 million times")
    [result] = render_revision(workspace, small_pool, str(deployment_repo.path), "HEAD", ["chart-bomb"], RenderSpec())
    assert result.error is not None
    assert result.error.kind == "limit"
    assert result.error.message == "pipelines/chart-bomb/pipeline.yaml: the render exceeded its memory limit of 512 MiB"
