"""Short messages the bot posts in place of a diff report, in the same sticky comment (same hidden marker)."""

from __future__ import annotations

from kpops_bot.escape import composed
from kpops_bot.report.identity import single_part, split_marker

OUTDATED_BANNER = "> [!NOTE]\n> **Outdated.**"


def nothing_affected(head_sha: str) -> str:
    return single_part(
        f"### ✅ kpops-bot: no pipeline affected\n\nAs of `{head_sha[:12]}` this pull request changes no pipeline, "
        "no `defaults.yaml`, no `config.yaml` and no custom component code, so there is nothing to preview."
    )


def fork_not_previewed() -> str:
    return single_part(
        "### kpops-bot: not previewed\n\nThis pull request comes from a fork. Rendering runs the pull request's "
        "custom component code, so forks are not previewed on this bot. A maintainer can push the branch to this "
        "repository to get a preview, or the bot's operator can set `allow_fork_previews`."
    )


def preview_failed(reason: str) -> str:
    return single_part(f"### ❌ kpops-bot: the preview could not be made\n\n{composed(reason)}")


def policy_not_evaluated(error: str) -> str:
    """Why a preview failed when a policy could not be evaluated (never a silent pass): the policy's error."""
    return f"a policy could not be evaluated: {error}"


def mark_outdated(body: str, why: str) -> str:
    """The comment with a banner under its marker line; marking twice changes nothing."""
    marker_line, rest = split_marker(body)
    if rest.startswith(OUTDATED_BANNER):
        return body
    return f"{marker_line}\n{OUTDATED_BANNER} {why}\n\n{rest}"


def preparing_kpops(version: str) -> str:
    """What a job waiting for the environment of a kpops release says meanwhile (a status, a line on stderr)."""
    return f"Preparing kpops {version} (first use of this version)"


def preparing_kpops_for_diff(version: str) -> str:
    """The status a `/kpops diff` borrows while it waits; its own words, so that a retry knows it for a leftover."""
    return f"{preparing_kpops(version)} for /kpops diff"


def is_preparing_kpops_for_diff(description: str) -> bool:
    return description.startswith("Preparing kpops ") and description.endswith(" for /kpops diff")


def closed_unmerged(head_sha: str) -> str:
    return f"This pull request was closed without merging at `{head_sha[:12]}`; nothing here was applied."


def merged_not_applied(commit: str) -> str:
    return (
        f"This pull request was merged as `{commit[:12]}`; this bot does not apply merges (`apply.on_merge` is off), "
        "so nothing here was applied by it."
    )


def merged_applied(commit: str) -> str:
    return f"This pull request was merged as `{commit[:12]}`; the apply's outcome is below."
