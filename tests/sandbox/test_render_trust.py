"""Nothing a render process could write is trusted by the next render: the shared chart cache and the render
cache, tampered with as a render without a sandbox could, serve nothing changed (real kpops, built-in helm)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import RenderTarget, layout_at, render_targets
from kpops_bot.model.render import PipelineRender, RenderSpec
from kpops_bot.workspace import Workspace
from testbed.repos import CHARTS, GitRepo
from tests.support.renders import manifest

INJECTED = "injected-by-a-render"


def chart_with_injected_annotation() -> bytes:
    """The streams-app chart as a render would rewrite it: every Deployment carries its annotation."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted((CHARTS / "streams-app").rglob("*")):
            if not path.is_file():
                continue
            content = path.read_bytes()
            if path.name == "deployment.yaml":
                content = content.replace(
                    b"metadata:\n  name:", f"metadata:\n  annotations:\n    {INJECTED}: 'yes'\n  name:".encode(), 1
                )
            info = tarfile.TarInfo(f"streams-app/{path.relative_to(CHARTS / 'streams-app')}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def render_word_count(
    workspace: Workspace, pool: RenderPool, repo: GitRepo, cache: RenderCache | None = None
) -> PipelineRender:
    repository = workspace.repository(str(repo.path))
    commit = repository.resolve("main")
    layout = layout_at(repository, commit, RenderSpec())
    target = RenderTarget(commit, layout.pipelines["word-count"], RenderSpec(), layout)
    (render,) = render_targets(repository, pool, [target], cache)
    return render


def test_a_tampered_chart_archive_in_the_shared_cache_is_never_rendered(
    engine_settings: EngineSettings, workspace: Workspace, deployment_repo: GitRepo, tmp_path: Path
) -> None:
    settings = engine_settings.model_copy(update={"work_dir": tmp_path / "renders"})
    with RenderPool(settings) as pool:
        genuine = render_word_count(workspace, pool, deployment_repo)
        assert genuine.error is None, genuine.error
        archives = sorted((tmp_path / "renders").glob("kpops-bot-render-*/charts/*.tgz"))
        assert archives, "the pool keeps downloaded charts in its shared cache"
        for archive in archives:
            archive.write_bytes(chart_with_injected_annotation())

        again = render_word_count(workspace, pool, deployment_repo)

    assert again.error is None, again.error
    deployment = manifest(again, "Deployment", "word-count-word-counter")
    assert INJECTED not in (deployment["metadata"].get("annotations") or {})
    assert again.components == genuine.components


def test_a_render_cache_entry_changed_on_disk_is_rendered_again(
    pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo, tmp_path: Path
) -> None:
    cache = RenderCache(tmp_path / "cache")
    genuine = render_word_count(workspace, pool, deployment_repo, cache)
    entries = [path for path in (tmp_path / "cache").rglob("*.json") if not path.name.endswith(".reads.json")]
    assert len(entries) == 1
    signature, _, body = entries[0].read_bytes().partition(b"\n")
    assert b'"replicas":2' in body
    entries[0].write_bytes(signature + b"\n" + body.replace(b'"replicas":2', b'"replicas":0'))

    again = render_word_count(workspace, pool, deployment_repo, cache)
    assert cache.hits == 0
    assert manifest(again, "Deployment", "word-count-word-counter")["spec"]["replicas"] == 2
    assert again.components == genuine.components
    render_word_count(workspace, pool, deployment_repo, cache)
    assert cache.hits == 1, "the entry was stored again, genuine"


def test_a_render_that_answers_for_another_pipeline_is_not_stored(
    pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo, tmp_path: Path
) -> None:
    component = "kpops/components/batch_producer/__init__.py"
    text = (deployment_repo.path / component).read_text(encoding="utf-8")
    deployment_repo.write(
        component,
        text
        + "\n\nimport json\nimport kpops_bot.engine.child as _child\n\n_write = _child._write_result\n"
        + "_child._write_result = lambda fd, payload: _write(\n"
        + "    fd, json.dumps({**json.loads(payload), 'name': 'team-a-orders'}).encode()\n"
        + ")\n",
    )
    deployment_repo.commit("A component that rewrites the render's answer")
    cache = RenderCache(tmp_path / "cache")
    render = render_word_count(workspace, pool, deployment_repo, cache)
    assert render.name == "word-count"  # the pool refused the answer for another pipeline
    assert render.error is not None
    assert render.error.message == "pipelines/word-count/pipeline.yaml: the render returned another job's result"
    assert cache.stores == 0
