"""The documentation site: `mkdocs build --strict` passes without a network (as .ci/run runs it), every page of
docs/ is in the navigation, the README stays a newcomer's page that links into the site, and the sections moved
out of the README keep their headings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"


def _nav_pages(entries: list[object]) -> set[str]:
    pages: set[str] = set()
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages |= _nav_pages(value)
        else:
            pages.add(str(value))
    return pages


def _offline() -> list[str]:
    """A command prefix that runs without any network but loopback (a network namespace of bubblewrap's)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap is not installed: the build cannot be cut off from the network (scripts/setup dev)")
    probe = subprocess.run([bwrap, "--dev-bind", "/", "/", "--unshare-net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this machine allows no network namespace: {probe.stderr.decode(errors='replace').strip()}")
    return [bwrap, "--dev-bind", "/", "/", "--unshare-net", "--die-with-parent"]


@pytest.mark.subprocess
def test_the_site_builds_strictly_without_a_network(tmp_path: Path) -> None:
    site = tmp_path / "site"
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    result = subprocess.run(
        [*_offline(), *mkdocs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    reference = (site / "configuration-reference" / "index.html").read_text(encoding="utf-8")
    assert "KPOPS_BOT_GITHUB__TOKEN" in reference
    assert (site / "schema" / "kpops-bot-repo-config.schema.json").is_file()  # the schemas are published with it


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert _nav_pages(config["nav"]) == pages


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert "scripts/demo    #" in text and "scripts/test    #" in text  # the two commands for a fresh machine
    links = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", text)
    assert "docs/index.md" in links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


@pytest.mark.parametrize(
    ("page", "heading"),
    [
        ("architecture.md", "# How it works (`kpops_bot/`)"),
        ("configuration.md", "## Settings"),
        ("commands.md", "## Comment commands"),
        ("security.md", "# Security model"),
        ("contributing.md", "## Tests and benchmarks"),
        ("getting-started.md", "## Running it for a GitHub repository"),
    ],
)
def test_moved_sections_keep_their_headings(page: str, heading: str) -> None:
    assert heading in (DOCS / page).read_text(encoding="utf-8").splitlines()
