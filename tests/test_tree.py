"""The test tree mirrors the package (the rule: the README's tests section): a module's test is found by its path."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
PACKAGE = ROOT / "kpops_bot"
SCENARIOS = {"unit", "e2e", "sandbox", "versions", "security", "support"}
# Checks of the project itself, not of one module: they stay at the top
PROJECT_CHECKS = {"test_architecture.py", "test_deploy_chart.py", "test_lanes.py", "test_release.py", "test_tree.py"}
PROJECT_CHECKS |= {"test_workflows.py"}  # the release automation in .github/workflows/
PROJECT_CHECKS |= {"test_docs_site.py"}  # the documentation site (mkdocs.yml, docs/)


def test_every_folder_of_the_unit_tests_is_a_folder_of_the_package() -> None:
    folders = {path.parent.relative_to(TESTS / "unit") for path in (TESTS / "unit").rglob("test_*.py")}
    assert sorted(str(folder) for folder in folders if not (PACKAGE / folder).is_dir()) == []


def test_the_top_of_the_tree_holds_only_the_project_checks_and_the_scenario_folders() -> None:
    """A test file added at the top belongs in tests/unit/<path>/ or a scenario folder (see the README)."""
    files = {path.name for path in TESTS.glob("test_*.py")}
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert (sorted(files - PROJECT_CHECKS), sorted(folders - SCENARIOS)) == ([], [])
