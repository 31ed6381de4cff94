"""The GitOps layout (pure) and publishing into a real bare repository, including a push that loses a race."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from kpops_bot.diff.compute import DiffOptions, diff_pipeline
from kpops_bot.diff.model import Status
from kpops_bot.gitops.layout import (
    PipelineWrite,
    deploy_write,
    dump,
    expired_jobs,
    kustomization,
    one_off_jobs_write,
    pipeline_folder,
    recorded_source,
    removal,
)
from kpops_bot.gitops.publish import PublishError, clone, commit_and_push, publish
from kpops_bot.gitops.target import ResourceChanges, Target
from kpops_bot.model.render import PipelineRender
from testbed.repos import GitRepo
from tests.support.renders import recorded_render
from tests.unit.test_workspace import plant


def _target(bare: Path, branch: str = "main") -> Target:
    return Target(str(bare), branch, {}, "kpops-bot", "bot@example.com")


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    seed = GitRepo(tmp_path / "seed")
    seed.write("README.md", "deployments\n")
    seed.commit("start")
    return seed.bare_clone(tmp_path / "gitops.git")


def _git(bare: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=bare, check=True, capture_output=True, text=True).stdout.strip()


def _tree(bare: Path, branch: str = "main") -> list[str]:
    return _git(bare, "ls-tree", "-r", "--name-only", branch).splitlines()


def never_newer(_recorded: str, _ours: str) -> bool:
    return False


def test_a_deploy_render_becomes_one_file_per_resource_and_a_kustomization() -> None:
    render = recorded_render("word-count", revision="a" * 40)
    write = deploy_write(pipeline_folder("rendered", "dev", "word-count"), render)
    assert write.folder == "rendered/dev/word-count"
    assert write.resources is not None
    manifests = [m for c in render.components for m in c.manifests]
    assert len(write.resources) == len(manifests)
    for manifest in manifests:
        name = f"{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        assert yaml.safe_load(write.resources[name]) == manifest
    assert pipeline_folder("rendered", None, "word-count") == "rendered/default/word-count"
    text = kustomization(["b.yaml", "a.yaml"], "a" * 40)
    assert yaml.safe_load(text)["resources"] == ["a.yaml", "b.yaml"]
    assert recorded_source(text) == "a" * 40
    assert recorded_source("not: [yaml") is None


def test_one_off_jobs_get_the_run_id_in_their_names_lose_argo_hooks_and_ttl_and_are_created_once_by_flux() -> None:
    render = recorded_render("word-count")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "x" * 70, "annotations": {"argocd.argoproj.io/hook": "PostDelete", "keep": "me"}},
        "spec": {"backoffLimit": 6, "ttlSecondsAfterFinished": 30, "template": {"spec": {}}},
    }
    topic = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic", "metadata": {"name": "t"}}
    render.components[0].manifests = [job, topic]
    write = one_off_jobs_write("rendered/dev/word-count", render, "c1234")
    ((name, text),) = write.jobs.items()
    renamed = yaml.safe_load(text)
    assert renamed["metadata"]["name"].endswith("-c1234") and len(renamed["metadata"]["name"]) <= 63
    assert renamed["metadata"]["annotations"] == {"keep": "me", "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    assert renamed["spec"] == {"backoffLimit": 6, "template": {"spec": {}}}
    assert job["spec"]["ttlSecondsAfterFinished"] == 30  # the render is left as it was
    assert name == f"job-{renamed['metadata']['name']}.yaml"
    assert write.resources is None and not write.removes


def test_job_files_expire_after_their_retention_except_those_written_now() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    added = {
        "job-a-c1.yaml": now - timedelta(days=8),
        "job-b-c2.yaml": now - timedelta(days=7),
        "job-c-c3.yaml": now - timedelta(days=6, hours=23),
        "job-d-c4.yaml": now - timedelta(days=30),
    }
    assert expired_jobs(added, now, timedelta(days=7), written=["job-d-c4.yaml"]) == ["job-a-c1.yaml", "job-b-c2.yaml"]
    assert expired_jobs(added, now, timedelta(0), written=[]) == sorted(added)
    assert expired_jobs({}, now, timedelta(0)) == []


def test_publishing_commits_once_keeps_jobs_and_removes_folders(bare: Path) -> None:
    render = recorded_render("word-count", revision="a" * 40)
    folder = "rendered/dev/word-count"
    first = publish(_target(bare), [deploy_write(folder, render)], "apply\n\nKpops-Bot-Apply: a", never_newer)
    assert first.commit == _git(bare, "rev-parse", "main")
    assert first.kept_newer == []
    again = publish(_target(bare), [deploy_write(folder, render)], "apply again", never_newer)
    assert again.commit is None  # the same content: no new commit
    job_render = recorded_render("word-count")
    job_render.components[0].manifests = [{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "clean"}}]
    publish(_target(bare), [one_off_jobs_write(folder, job_render, "r1")], "reset", never_newer)
    publish(_target(bare), [deploy_write(folder, render)], "deploy", never_newer)
    tree = _tree(bare)
    assert f"{folder}/jobs/job-clean-r1.yaml" in tree  # a deploy keeps the one-off jobs
    resources = yaml.safe_load(_git(bare, "show", f"main:{folder}/kustomization.yaml"))["resources"]
    assert "jobs/job-clean-r1.yaml" in resources
    publish(_target(bare), [removal(folder, "b" * 40)], "destroy", never_newer)
    assert not [path for path in _tree(bare) if path.startswith(folder)]
    assert "README.md" in _tree(bare)


def test_a_publish_counts_each_folders_resources_as_the_preview_counts_them(bare: Path) -> None:
    """What an apply answer says changed: per folder, resources added, changed and removed against the target,
    the same counts as the preview's diff of the two renders."""
    base = recorded_render("word-count", revision="a" * 40)
    head = base.model_copy(deep=True, update={"revision": "b" * 40})
    manifests = head.components[0].manifests
    deployment = next(m for c in head.components for m in c.manifests if m["kind"] == "Deployment")
    deployment["metadata"].setdefault("annotations", {})["team"] = "orders"
    dropped = next(m for m in manifests if m is not deployment)
    manifests.remove(dropped)
    manifests.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "word-count-extra"}})
    folder = "rendered/dev/word-count"
    first = publish(_target(bare), [deploy_write(folder, base)], "apply base", never_newer)
    assert first.changes == {folder: ResourceChanges(added=len([m for c in base.components for m in c.manifests]))}
    published = publish(_target(bare), [deploy_write(folder, head)], "apply head", never_newer)
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    counted = [r.status for c in diff.components for r in c.resources]
    preview = ResourceChanges(counted.count(Status.ADDED), counted.count(Status.CHANGED), counted.count(Status.REMOVED))
    assert published.changes == {folder: preview} and preview == ResourceChanges(1, 1, 1)
    gone = publish(_target(bare), [removal(folder, "c" * 40)], "destroy", never_newer)
    assert gone.changes == {folder: ResourceChanges(removed=len([m for c in head.components for m in c.manifests]))}


def test_a_missing_branch_is_created_and_a_newer_folder_is_left_alone(bare: Path) -> None:
    render = recorded_render("word-count", revision="new")
    folder = "rendered/prod/word-count"
    publish(_target(bare, "gitops"), [deploy_write(folder, render)], "first", never_newer)
    assert not [path for path in _tree(bare, "gitops") if path == "README.md"]  # a new branch starts empty
    older = recorded_render("word-count", revision="old")
    kept = publish(_target(bare, "gitops"), [deploy_write(folder, older)], "late", lambda rec, ours: rec == "new")
    assert (kept.commit, kept.kept_newer) == (None, [folder])


def test_a_push_that_loses_a_race_is_redone_on_the_new_tip_and_both_land(bare: Path, tmp_path: Path) -> None:
    other = GitRepo(tmp_path / "other")
    other.git("remote", "add", "origin", str(bare))
    other.git("fetch", "-q", "origin")
    other.git("checkout", "-q", "-B", "main", "origin/main")
    folder = "rendered/dev/word-count"
    publish(_target(bare), [deploy_write(folder, recorded_render("word-count", revision="base"))], "seed", never_newer)
    other.git("pull", "-q", "origin", "main")
    calls: list[str] = []

    def push_meanwhile(recorded: str, ours: str) -> bool:
        if not calls:  # between our clone and our push, someone else pushes
            other.write("rendered/dev/team-a-orders/kustomization.yaml", "resources: []\n")
            other.commit("another apply")
            other.git("push", "-q", "origin", "main")
        calls.append(recorded)
        return False

    result = publish(
        _target(bare), [deploy_write(folder, recorded_render("word-count", revision="mine"))], "mine", push_meanwhile
    )
    assert len(calls) == 2  # the writes were redone on the new tip
    assert result.commit == _git(bare, "rev-parse", "main")
    tree = _tree(bare)
    assert "rendered/dev/team-a-orders/kustomization.yaml" in tree
    assert recorded_source(_git(bare, "show", f"main:{folder}/kustomization.yaml")) == "mine"


def test_expired_jobs_leave_each_written_folder_and_only_those(bare: Path) -> None:
    def job() -> PipelineRender:
        render = recorded_render("word-count", revision="a" * 40)
        render.components[0].manifests = [{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "clean"}}]
        return render

    def dated(days_ago: int) -> Target:  # as if committed then, by a bot that kept jobs for a month
        when = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
        env = {"GIT_COMMITTER_DATE": when}
        return Target(str(bare), "main", env, "kpops-bot", "bot@example.com", jobs_kept_for=timedelta(days=30))

    folders = [f"rendered/{environment}/word-count" for environment in ("dev", "prod", "test")]
    publish(dated(10), [one_off_jobs_write(folder, job(), "c1") for folder in folders], "old", never_newer)
    publish(dated(1), [one_off_jobs_write(folder, job(), "c2") for folder in folders], "young", never_newer)
    assert len([path for path in _tree(bare) if "/jobs/" in path]) == 6
    written = [one_off_jobs_write(folder, job(), "c3") for folder in folders[:2]]
    published = publish(_target(bare), written, "now", never_newer)
    assert published.removed_jobs == [f"{folder}/jobs/job-clean-c1.yaml" for folder in folders[:2]]
    tree = _tree(bare)
    for folder in folders[:2]:
        assert [path for path in tree if path.startswith(f"{folder}/jobs/")] == [
            f"{folder}/jobs/job-clean-c2.yaml",
            f"{folder}/jobs/job-clean-c3.yaml",
        ]
    assert f"{folders[2]}/jobs/job-clean-c1.yaml" in tree  # a folder not written keeps its jobs until it is


def test_an_unreachable_target_is_a_clear_error_without_credentials(tmp_path: Path) -> None:
    target = Target("https://user:token@127.0.0.1:9/none.git", "main", {}, "bot", "bot@example.com")
    with pytest.raises(PublishError) as raised:
        publish(target, [PipelineWrite("rendered/x", "a")], "m", never_newer)
    assert "token" not in str(raised.value) and "cannot fetch" in str(raised.value)


def test_hooks_and_commands_planted_in_the_clone_never_run(bare: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with tempfile.TemporaryDirectory() as folder:
        repo = clone(_target(bare), Path(folder))
        plant(Path(folder) / ".git", marker)
        subprocess.run(["git", "status", "-s"], cwd=folder, check=True, capture_output=True)
        assert marker.is_file(), "plain git runs the planted fsmonitor"
        marker.unlink()
        write = deploy_write("rendered/dev/word-count", recorded_render("word-count"))
        published = commit_and_push(repo, _target(bare), [write], "apply", never_newer)
    assert published.commit == _git(bare, "rev-parse", "main")
    assert not marker.exists()


def test_gitops_files_keep_non_ascii_text_as_the_diff_shows_it() -> None:
    base = recorded_render()
    head = base.model_copy(deep=True)
    deployment = next(m for c in head.components for m in c.manifests if m["kind"] == "Deployment")
    deployment["metadata"].setdefault("annotations", {})["team"] = "Grüße aus Köln"
    written = dump(deployment)
    assert "team: Grüße aus Köln" in written
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    changed = next(r for c in diff.components for r in c.resources if r.diff)
    assert "+    team: Grüße aus Köln" in changed.diff
