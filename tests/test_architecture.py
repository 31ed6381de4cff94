"""Imports point one way: edges (cli, server, services) → workflows → pure cores. Read from the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kpops_bot"


def imported(folder: str) -> dict[str, set[str]]:
    """Module file → every kpops_bot module it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
        found[str(path.relative_to(PACKAGE))] = {name for name in names if name.startswith("kpops_bot")}
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("workflows", ("kpops_bot.server", "kpops_bot.services", "kpops_bot.cli")),
        ("report", ("kpops_bot.workflows", "kpops_bot.locks", "kpops_bot.gitops", "kpops_bot.server")),
        ("commands", ("kpops_bot.workflows", "kpops_bot.server", "kpops_bot.store")),
    ],
)
def test_imports_point_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    wrong = {
        module: sorted(name for name in names if name.startswith(forbidden))
        for module, names in imported(folder).items()
        if any(name.startswith(forbidden) for name in names)
    }
    assert wrong == {}


def test_only_the_command_line_reaches_the_playground() -> None:
    """The forge stand-in is for trying the bot out: the bot itself never depends on it."""
    users = {
        module
        for module, names in imported(".").items()
        if any(name.startswith("kpops_bot.playground") for name in names) and not module.startswith("playground/")
    }
    assert users == {"cli.py"}
