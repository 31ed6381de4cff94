"""The bot's commit status descriptions: every one in its golden file, each short enough for the forge to show."""

from __future__ import annotations

from kpops_bot.diff.model import Status
from kpops_bot.report import statuses
from tests.support.golden import check_golden

GITHUB_DESCRIPTION_LIMIT = 140


def test_every_status_description_is_in_its_golden_file_and_fits_what_the_forge_shows() -> None:
    described = {
        "applying": statuses.APPLYING,
        "applied": statuses.APPLIED,
        "apply failed (push)": statuses.APPLY_FAILED,
        "apply failed (merge)": statuses.APPLY_FAILED_MERGE,
        "rendering": statuses.RENDERING,
        "fork not previewed": statuses.FORK_NOT_PREVIEWED,
        "nothing affected": statuses.NOTHING_AFFECTED,
        "closed before its preview": statuses.CLOSED_BEFORE_PREVIEW,
        "job failed": statuses.job_failed(7),
        "no preview": statuses.no_preview("invalid .kpops-bot.yaml"),
        "superseded": statuses.superseded("abc1234" + "0" * 33),
        "previewed": statuses.previewed({Status.CHANGED: 2, Status.ADDED: 1, Status.REMOVED: 0}, 0, False),
        "blocking": statuses.previewed({Status.CHANGED: 2}, 0, True),
        "failed to render": statuses.previewed({Status.CHANGED: 1, Status.ERROR: 1}, 1, True),
        "without sandbox": statuses.unsandboxed(statuses.RENDERING),
    }
    check_golden("bot/statuses.txt", "".join(f"{what}: {text}\n" for what, text in described.items()))
    assert all(len(text) <= GITHUB_DESCRIPTION_LIMIT for text in described.values())
