"""Whether a pull request is approved in the sense `commands.require_approval` means. Pure.

An approval counts when its reviewer has at least the configured permission (`commands.approval_permission`,
default write) and it was given on the current head: a push after it voids it, since the approved code is no
longer what runs. A request for changes from such a reviewer, as their last verdict, outweighs approvals.
Reviewers' permissions come through `permission` (a forge lookup), asked only for reviewers whose verdict matters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kpops_bot.model.forge import Permission, Review, Verdict


def approved(
    reviews: Iterable[Review], head_sha: str, least: Permission, permission: Callable[[str], Permission]
) -> bool:
    latest: dict[str, Review] = {}
    for review in reviews:  # oldest first: a reviewer's last verdict stands
        latest[review.user] = review
    approvers = [
        review.user
        for review in latest.values()
        if review.verdict is Verdict.APPROVED and review.commit in (None, head_sha)
    ]
    objectors = [review.user for review in latest.values() if review.verdict is Verdict.CHANGES_REQUESTED]
    if any(permission(user) >= least for user in objectors):
        return False
    return any(permission(user) >= least for user in approvers)


def not_approved(least: Permission) -> str:
    """Why the pull request is not approved, for the answer."""
    who = f"a reviewer with {least.name.lower()} permission or more" if least > Permission.NONE else "anyone"
    return f"it has no approval on its current commit from {who}."
