"""One-off Jobs (reset, clean) in manifest and argo mode, rendered by real kpops and committed into a real bare
repository: what each GitOps controller needs to run them exactly once, and how old ones leave the folder."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpops_bot.adapters.operations import Operator
from kpops_bot.drift import compare
from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.targets import RenderTarget, layout_at, render_targets
from kpops_bot.gitops.layout import JOBS_KEPT_FOR
from kpops_bot.gitops.publish import publish
from kpops_bot.gitops.snapshot import environment_folders
from kpops_bot.gitops.target import Published, Target
from kpops_bot.managed import Isolation
from kpops_bot.masking import Masker
from kpops_bot.model.render import Operation, RenderSpec
from kpops_bot.pipelines import Pipeline
from kpops_bot.sandbox.layers import Layer
from kpops_bot.settings import OperationMode
from kpops_bot.workflows.steps import Step, StepResult
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo
from tests.support.kustomize import build_committed_folders
from tests.support.workflow_kit import settings

FOLDER = "rendered/dev/word-count"
WORD_COUNT = Pipeline("word-count", "pipelines/word-count")
FLUX_CREATE_ONCE = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}


class GitOps:
    """The bare GitOps repository, and the bot's way of committing to it (at a chosen date, as if done then)."""

    def __init__(self, bare: Path) -> None:
        self.bare = bare

    def publish(self, results: list[StepResult], days_ago: float = 0, kept_for: timedelta = JOBS_KEPT_FOR) -> Published:
        when = datetime.now(UTC) - timedelta(days=days_ago)
        dated = {"GIT_COMMITTER_DATE": when.isoformat(), "GIT_AUTHOR_DATE": when.isoformat()}
        target = Target(str(self.bare), "main", dated, "kpops-bot", "bot@example.com", jobs_kept_for=kept_for)
        writes = [result.write for result in results if result.write is not None]
        return publish(target, writes, "kpops-bot: test", lambda _recorded, _ours: False)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.bare, check=True, capture_output=True, text=True).stdout

    def files(self, folder: str = FOLDER) -> list[str]:
        return self.git("ls-tree", "-r", "--name-only", "main", "--", folder).split()

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {path: yaml.safe_load(self.git("show", f"main:{path}")) for path in self.files(f"{FOLDER}/jobs")}

    def listed(self) -> list[str]:
        kustomization = yaml.safe_load(self.git("show", f"main:{FOLDER}/kustomization.yaml"))
        resources: list[str] = kustomization["resources"]
        return resources


@pytest.fixture
def gitops(tmp_path: Path) -> GitOps:
    seed = GitRepo(tmp_path / "seed")
    seed.write("README.md", "deployments\n")
    seed.commit("start")
    return GitOps(seed.bare_clone(tmp_path / "gitops.git"))


def _operate(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, mode: OperationMode
) -> tuple[Operator, str]:
    repository = workspace.repository(str(deployment_repo.path))
    operator = Operator(settings(tmp_path), lambda: pool, None, repository, mode, ".", Masker(), Isolation(Layer.OFF))
    return operator, repository.resolve("main")


def _kpops_reset_jobs(
    workspace: Workspace, deployment_repo: GitRepo, pool: RenderPool, mode: OperationMode
) -> list[dict[str, Any]]:
    """The Jobs kpops itself renders for a reset, before the bot makes them one-off Jobs."""
    repository = workspace.repository(str(deployment_repo.path))
    commit = repository.resolve("main")
    spec = RenderSpec("dev", mode.render_mode, Operation.RESET, ".")
    target = RenderTarget(commit, WORD_COUNT, spec, layout_at(repository, commit, spec))
    (render,) = render_targets(repository, pool, [target], None)
    return [manifest for c in render.components for manifest in c.manifests if manifest["kind"] == "Job"]


def _deployed_jobs(gitops: GitOps) -> list[dict[str, Any]]:
    """The Jobs of the deploy itself (a producer's), beside the folder's one-off Jobs."""
    files = [path for path in gitops.files() if "/jobs/" not in path and path.split("/")[-1].startswith("job-")]
    return [yaml.safe_load(gitops.git("show", f"main:{path}")) for path in files]


def _run(operator: Operator, commit: str, operation: Operation, run_id: str) -> list[StepResult]:
    results = operator.run([Step(operation, WORD_COUNT, "dev", commit)], run_id)
    assert all(result.ok for result in results), [result.summary for result in results]
    return results


@pytest.mark.parametrize("mode", [OperationMode.MANIFEST, OperationMode.ARGO])
def test_a_reset_commits_jobs_that_argo_cd_and_flux_create_once_and_never_again(
    deployment_repo: GitRepo,
    workspace: Workspace,
    pool: RenderPool,
    tmp_path: Path,
    gitops: GitOps,
    mode: OperationMode,
) -> None:
    operator, commit = _operate(deployment_repo, workspace, pool, tmp_path, mode)
    kpops_jobs = _kpops_reset_jobs(workspace, deployment_repo, pool, mode)
    assert kpops_jobs and all("ttlSecondsAfterFinished" in job["spec"] for job in kpops_jobs)

    gitops.publish(_run(operator, commit, Operation.DEPLOY, "apply"))
    gitops.publish(_run(operator, commit, Operation.RESET, "c1042"))

    jobs = gitops.jobs()
    assert sorted(job["metadata"]["name"] for job in jobs.values()) == sorted(
        f"{job['metadata']['name']}-c1042" for job in kpops_jobs
    )
    for path, job in jobs.items():
        assert path.endswith("-c1042.yaml") and job["kind"] == "Job"
        assert "ttlSecondsAfterFinished" not in job["spec"]  # a finished Job stays: nothing for self-heal to recreate
        annotations = job["metadata"]["annotations"]
        assert annotations.items() >= FLUX_CREATE_ONCE.items()  # Flux creates it once and never patches it
        assert not [key for key in annotations if key.startswith("argocd.argoproj.io/hook")]  # not rerun per sync
        assert "kustomize.toolkit.fluxcd.io/reconcile" not in annotations  # that would keep Flux from creating it
        expected_spec = next(k for k in kpops_jobs if f"{k['metadata']['name']}-c1042" == job["metadata"]["name"])
        assert job["spec"] == {key: v for key, v in expected_spec["spec"].items() if key != "ttlSecondsAfterFinished"}
    resources = [path.removeprefix(f"{FOLDER}/") for path in gitops.files() if not path.endswith("kustomization.yaml")]
    assert gitops.listed() == sorted(resources)
    assert [path for path in resources if path.startswith("jobs/")] == sorted(
        p.removeprefix(f"{FOLDER}/") for p in jobs
    )
    built = build_committed_folders(gitops.bare)[FOLDER]  # real kustomize builds the folder, Jobs included
    assert sorted(d["metadata"]["name"] for d in built if d["kind"] == "Job") == sorted(
        job["metadata"]["name"] for job in [*jobs.values(), *_deployed_jobs(gitops)]
    )


def test_a_second_reset_adds_its_jobs_and_the_next_commits_remove_jobs_past_their_retention(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, gitops: GitOps
) -> None:
    operator, commit = _operate(deployment_repo, workspace, pool, tmp_path, OperationMode.MANIFEST)

    def runs() -> list[str]:
        return sorted({Path(path).stem.rsplit("-", 1)[1] for path in gitops.files(f"{FOLDER}/jobs")})

    def listed_jobs() -> list[str]:
        return [name for name in gitops.listed() if name.startswith("jobs/")]

    gitops.publish(_run(operator, commit, Operation.DEPLOY, "apply"), days_ago=9)
    gitops.publish(_run(operator, commit, Operation.RESET, "c1"), days_ago=8)  # past the 7 days a job is kept
    assert runs() == ["c1"]

    c1_files = gitops.files(f"{FOLDER}/jobs")
    cleaned = gitops.publish(_run(operator, commit, Operation.CLEAN, "c2"))
    assert runs() == ["c2"]  # c1's files left with the next commit to the folder
    assert cleaned.removed_jobs == c1_files
    gitops.publish(_run(operator, commit, Operation.RESET, "c3"))
    assert runs() == ["c2", "c3"]  # a second command adds jobs of its own; c2 is young enough to stay
    assert listed_jobs() == sorted(path.removeprefix(f"{FOLDER}/") for path in gitops.files(f"{FOLDER}/jobs"))

    tip = gitops.git("rev-parse", "main")
    assert gitops.publish(_run(operator, commit, Operation.RESET, "c3")).commit is None  # a retried command
    assert gitops.git("rev-parse", "main") == tip

    deployed = gitops.publish(_run(operator, commit, Operation.DEPLOY, "apply"), kept_for=timedelta(0))
    assert deployed.commit is not None and runs() == []  # an apply removes expired jobs too
    assert len(deployed.removed_jobs) == len(set(deployed.removed_jobs)) > 1
    assert listed_jobs() == []
    assert gitops.listed() == sorted(
        path.removeprefix(f"{FOLDER}/") for path in gitops.files() if not path.endswith("kustomization.yaml")
    )


def test_drift_detection_leaves_one_off_jobs_out_of_the_comparison(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path, gitops: GitOps
) -> None:
    operator, commit = _operate(deployment_repo, workspace, pool, tmp_path, OperationMode.MANIFEST)
    (deploy,) = _run(operator, commit, Operation.DEPLOY, "apply")
    gitops.publish([deploy])
    gitops.publish(_run(operator, commit, Operation.RESET, "c5"))
    assert gitops.files(f"{FOLDER}/jobs")
    target = Target(str(gitops.bare), "main", {}, "kpops-bot", "bot@example.com")
    assert deploy.write is not None and deploy.write.resources is not None
    assert compare({FOLDER: deploy.write.resources}, environment_folders(target, "rendered", ["dev"])) == []


def test_the_retention_is_a_setting_in_hours() -> None:
    assert settings().gitops.jobs_kept_for() == JOBS_KEPT_FOR == timedelta(days=7)
    assert settings(gitops={"jobs_kept_hours": 36}).gitops.jobs_kept_for() == timedelta(hours=36)
    with pytest.raises(ValueError, match="jobs_kept_hours"):
        settings(gitops={"jobs_kept_hours": -1})
