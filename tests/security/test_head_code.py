"""Running a pull request's head: one decision for every use, dry runs included; approvals that mean something."""

from __future__ import annotations

import pytest

from kpops_bot.commands.approval import approved
from kpops_bot.head_code import HeadFacts, HeadRules, HeadUse, KeepHead, RunHead, Variables, decide
from kpops_bot.model.forge import Permission, Review, Verdict
from kpops_bot.settings import OperationMode

STRICT = HeadRules(allow_fork_previews=False, allow_fork_deploy=False, deploy_needs_approval=True)
OPEN_DOORS = HeadRules(allow_fork_previews=True, allow_fork_deploy=True, deploy_needs_approval=False)
FORK = HeadFacts(from_fork=True, approved=True)
UNAPPROVED = HeadFacts(from_fork=False, approved=False)
APPROVED = HeadFacts(from_fork=False, approved=True)
MODES = list(OperationMode)
RENDER_MODES = [OperationMode.MANIFEST, OperationMode.ARGO]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dry_run", [False, True])
def test_deploy_of_an_unapproved_head_is_refused_real_or_dry_in_managed_mode(
    mode: OperationMode, dry_run: bool
) -> None:
    decision = decide(HeadUse.DEPLOY, mode, UNAPPROVED, STRICT, dry_run=dry_run)
    if dry_run and mode is not OperationMode.MANAGED:
        assert decision == RunHead(Variables.TRUSTED)  # a render like the preview: it shows, nothing runs
    else:
        assert isinstance(decision, KeepHead)
        assert "runs only an approved head" in decision.reason
    assert decide(HeadUse.DEPLOY, mode, APPROVED, STRICT, dry_run=dry_run) == RunHead(Variables.TRUSTED)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_forks_head_never_runs_with_credentials_without_allow_fork_deploy(dry_run: bool) -> None:
    decision = decide(HeadUse.DEPLOY, OperationMode.MANAGED, FORK, STRICT, dry_run=dry_run)
    assert isinstance(decision, KeepHead)
    assert "does not run a fork's head" in decision.reason
    assert decide(HeadUse.DEPLOY, OperationMode.MANAGED, FORK, OPEN_DOORS, dry_run=dry_run).trusted  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", RENDER_MODES)
def test_a_forks_dry_run_deploy_in_manifest_mode_follows_the_preview_rule(mode: OperationMode) -> None:
    refused = decide(HeadUse.DEPLOY, mode, FORK, STRICT, dry_run=True)
    assert refused == decide(HeadUse.DIFF, mode, FORK, STRICT)
    assert isinstance(refused, KeepHead) and "allow_fork_previews" in refused.reason
    previews = HeadRules(allow_fork_previews=True, allow_fork_deploy=False, deploy_needs_approval=True)
    assert decide(HeadUse.DEPLOY, mode, FORK, previews, dry_run=True) == RunHead(Variables.UNTRUSTED)
    real = decide(HeadUse.DEPLOY, mode, FORK, previews)
    assert isinstance(real, KeepHead)  # the real deploy renders with the deployment's variables


@pytest.mark.parametrize("use", [HeadUse.PREVIEW, HeadUse.DIFF])
def test_previews_and_diffs_render_forks_only_when_allowed_and_then_untrusted(use: HeadUse) -> None:
    assert isinstance(decide(use, OperationMode.MANAGED, FORK, STRICT), KeepHead)
    assert decide(use, OperationMode.MANAGED, FORK, OPEN_DOORS) == RunHead(Variables.UNTRUSTED)
    assert decide(use, OperationMode.MANIFEST, UNAPPROVED, STRICT) == RunHead(Variables.TRUSTED)


HEAD = "h" * 40
PERMISSIONS = {"reader": Permission.READ, "writer": Permission.WRITE, "maintainer": Permission.MAINTAIN}


def _approved(*reviews: Review, least: Permission = Permission.WRITE) -> bool:
    return approved(reviews, HEAD, least, lambda user: PERMISSIONS.get(user, Permission.NONE))


def test_only_approvals_of_reviewers_with_enough_permission_on_the_current_head_count() -> None:
    assert not _approved(Review("reader", Verdict.APPROVED, HEAD))
    assert not _approved(Review("stranger", Verdict.APPROVED, HEAD))
    assert not _approved(Review("writer", Verdict.APPROVED, "o" * 40))  # pushed after the approval
    assert _approved(Review("writer", Verdict.APPROVED, HEAD))
    assert _approved(Review("writer", Verdict.APPROVED, None))  # GitLab: the forge dropped stale approvals
    assert _approved(Review("reader", Verdict.APPROVED, HEAD), least=Permission.READ)
    assert not _approved(Review("writer", Verdict.APPROVED, HEAD), least=Permission.MAINTAIN)


def test_a_reviewers_last_verdict_stands_and_a_request_for_changes_outweighs() -> None:
    approval = Review("writer", Verdict.APPROVED, HEAD)
    assert not _approved(approval, Review("writer", Verdict.DISMISSED, HEAD))
    assert not _approved(approval, Review("maintainer", Verdict.CHANGES_REQUESTED, HEAD))
    assert _approved(approval, Review("reader", Verdict.CHANGES_REQUESTED, HEAD))  # not a reviewer who counts
    assert _approved(Review("writer", Verdict.CHANGES_REQUESTED, "o" * 40), approval)
