"""Checkouts opened to renders of other uids: once per checkout, again for a folder made anew at the same path.
Real kpops in the real sandbox; a bot running as root runs each render as an unprivileged uid of its own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kpops_bot.engine.pool import RenderPool, RenderRequest
from testbed.repos import DEPLOYMENT_REPO

WORD_COUNT = "pipelines/word-count/pipeline.yaml"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only a bot running as root renders as other uids")


def private_copy(target: Path) -> Path:
    """The fixture repository as a bot with umask 077 would check it out: nothing readable by other uids."""
    shutil.copytree(DEPLOYMENT_REPO, target)
    for folder, _, files in os.walk(target):
        Path(folder).chmod(0o700)
        for name in files:
            (Path(folder) / name).chmod(0o600)
    return target


def test_a_checkout_made_anew_at_the_same_path_is_opened_to_renders_again(pool: RenderPool, tmp_path: Path) -> None:
    assert pool.sandbox.runs_as_other_uid
    checkout = private_copy(tmp_path / "checkout")
    first = pool.render(RenderRequest("word-count", WORD_COUNT, checkout, "HEAD"))
    assert first.ok, first.error
    assert (checkout / WORD_COUNT).stat().st_mode & 0o777 == 0o644

    again = pool.render(RenderRequest("word-count", WORD_COUNT, checkout, "HEAD"))  # opened already
    assert again.ok, again.error

    shutil.rmtree(checkout)
    private_copy(checkout)
    anew = pool.render(RenderRequest("word-count", WORD_COUNT, checkout, "HEAD"))
    assert anew.ok, anew.error
    assert (checkout / WORD_COUNT).stat().st_mode & 0o777 == 0o644
