"""The deployment repository on real git: what an apply's policy gate judges a merged change against."""

from __future__ import annotations

from pathlib import Path

from kpops_bot.adapters.deployment import GitDeploymentRepository
from kpops_bot.managed import Isolation
from kpops_bot.sandbox.layers import Layer
from kpops_bot.settings import BotSettings
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo


def _deployment(repo: GitRepo, workspace: Workspace, tmp_path: Path) -> GitDeploymentRepository:
    def no_pool(_trusted: bool) -> object:
        raise AssertionError("judging a change's base renders nothing")

    settings = BotSettings(data_dir=tmp_path / "bot")
    return GitDeploymentRepository(
        workspace.repository(str(repo.path)),
        settings,
        no_pool,  # type: ignore[arg-type]
        None,
        Isolation(Layer.OFF),
    )


def _rebase_merged(repo: GitRepo) -> tuple[str, str, str, str]:
    """A pull request of two commits, rebased onto a base branch that moved meanwhile: (fork point, the branch's
    tip before the merge, the pull request's head, the merged tip)."""
    fork = repo.git("rev-parse", "HEAD").strip()
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("first.txt", "the pull request's first commit\n")
    repo.commit("First")
    repo.write("second.txt", "the pull request's second commit\n")
    head = repo.commit("Second")
    repo.git("checkout", "-q", "main")
    repo.write("other.txt", "another pull request, merged meanwhile\n")
    before = repo.commit("Other")
    repo.git("cherry-pick", f"{fork}..{head}")
    return fork, before, head, repo.git("rev-parse", "HEAD").strip()


def test_a_rebase_merge_is_judged_from_where_its_head_left_the_branch(
    deployment_repo: GitRepo, workspace: Workspace, tmp_path: Path
) -> None:
    fork, before, head, merged = _rebase_merged(deployment_repo)
    deployment = _deployment(deployment_repo, workspace, tmp_path)
    # the first parent sees only the second commit; the fork point sees both
    assert deployment.change_base(None, merged, head) == fork
    assert deployment.change_base(before, merged, head) == fork


def test_a_push_or_a_merge_without_a_known_head_is_judged_from_before_or_the_first_parent(
    deployment_repo: GitRepo, workspace: Workspace, tmp_path: Path
) -> None:
    _fork, before, _head, merged = _rebase_merged(deployment_repo)
    deployment = _deployment(deployment_repo, workspace, tmp_path)
    parent = deployment_repo.git("rev-parse", f"{merged}^").strip()
    assert deployment.change_base(before, merged, None) == before
    assert deployment.change_base(None, merged, None) == parent
    assert deployment.change_base(None, merged, merged) == parent  # a fast-forward: the head is the commit
    assert deployment.change_base(None, merged, "f" * 40) == parent  # the head is gone from the remote
