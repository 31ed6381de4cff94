"""The helm service as a confused deputy: it runs with the bot's rights, so a render must not make it read
anything outside that render's own folders, nor act without the grant the pool signed for it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kpops_bot.helm import service
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors
from testbed.repos import CHARTS, MIRROR_FROM

SECRET_LINE = "token: the-bots-own-secret"


@pytest.fixture
def helm(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    socket_path = str(tmp_path / "helm.sock")
    key = service.new_key()
    process = service.start(socket_path, {"PATH": os.environ["PATH"]}, key)
    try:
        yield socket_path, key
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()


@pytest.fixture
def render_folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A render's checkout and scratch folder, and the bot's settings file beside them."""
    checkout = tmp_path / "checkout"
    scratch = tmp_path / "job"
    for folder in (checkout, scratch):
        folder.mkdir()
    settings = tmp_path / "bot.yaml"
    settings.write_text(f"{SECRET_LINE}\n")
    return checkout, scratch, settings


def grant_for(checkout: Path, scratch: Path, chart_server: ChartServer | None = None) -> service.Grant:
    env = {"HOME": str(scratch), "HELM_REPOSITORY_CONFIG": str(scratch / "repositories.yaml")}
    if chart_server is not None:
        env[MIRRORS_ENV] = ChartMirrors({MIRROR_FROM: chart_server.url}).to_json()
    return service.Grant(env=env, files=[str(checkout), str(scratch)], charts=[str(checkout)], cwd=str(checkout))


def test_a_granted_render_gets_its_template(helm: tuple[str, bytes], render_folders: tuple[Path, Path, Path]) -> None:
    socket_path, key = helm
    checkout, scratch, _ = render_folders
    (scratch / "values.yaml").write_text("image: app\n")
    chart = checkout / "charts" / "producer-app"
    chart.parent.mkdir()
    chart.symlink_to(CHARTS / "producer-app")  # a link that leaves the checkout
    outcome = service.call(
        socket_path, ["template", "p", str(CHARTS / "producer-app"), "-f", str(scratch / "values.yaml")], ""
    )
    assert outcome.returncode == 1 and "refused the request" in outcome.stderr
    token = grant_for(checkout, scratch).sign(key)
    outcome = service.call(socket_path, ["template", "p", "charts/producer-app", "-f", "values.yaml"], token)
    absent = service.call(socket_path, ["template", "p", "charts/producer-app-absent", "-f", "values.yaml"], token)
    assert outcome.returncode == absent.returncode == 1
    assert outcome.stderr == absent.stderr.replace("producer-app-absent", "producer-app")  # outside == absent
    chart.unlink()
    shutil.copytree(CHARTS / "producer-app", chart)
    outcome = service.call(
        socket_path, ["template", "p", "charts/producer-app", "-f", str(scratch / "values.yaml")], token
    )
    assert outcome.returncode == 0, outcome.stderr
    assert [doc["kind"] for doc in yaml.safe_load_all(outcome.stdout)] == ["Job"]


def test_values_files_outside_the_render_or_planted_links_are_refused(
    helm: tuple[str, bytes], render_folders: tuple[Path, Path, Path]
) -> None:
    socket_path, key = helm
    checkout, scratch, settings = render_folders
    token = grant_for(checkout, scratch).sign(key)
    shutil.copytree(CHARTS / "producer-app", checkout / "charts" / "producer-app")
    planted = scratch / "values.yaml"
    planted.symlink_to(settings)
    for values in (str(settings), str(planted), "../bot.yaml"):
        outcome = service.call(socket_path, ["template", "p", "charts/producer-app", "-f", values], token)
        assert outcome.returncode == 1
        assert SECRET_LINE not in outcome.stdout + outcome.stderr
    set_file = service.call(
        socket_path, ["template", "p", "charts/producer-app", "--set-file", f"image={settings}"], token
    )
    assert set_file.returncode == 1 and "no such file in the folders this render may read" in set_file.stderr


def test_a_grant_cannot_be_forged_or_widened(
    helm: tuple[str, bytes], render_folders: tuple[Path, Path, Path], chart_server: ChartServer
) -> None:
    socket_path, key = helm
    checkout, scratch, settings = render_folders
    other_key = service.new_key()
    widened = service.Grant(env={}, files=["/"], charts=["/"], cwd="/")
    for token in (widened.sign(other_key), "garbage", grant_for(checkout, scratch).sign(key)[:-4] + "AAAA"):
        outcome = service.call(socket_path, ["template", "p", str(settings.parent), "-f", str(settings)], token)
        assert outcome.returncode == 1 and "refused the request" in outcome.stderr
    token = grant_for(checkout, scratch, chart_server).sign(key)
    added = service.call(socket_path, ["repo", "add", MIRROR_FROM, "https://example.invalid/"], token)
    assert added.returncode == 0, added.stderr
    assert (scratch / "repositories.yaml").is_file()  # helm's files go where the grant says, nowhere else
