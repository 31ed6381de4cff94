"""The bot says which Python it needs instead of failing every checkout on an older one."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from kpops_bot.python_version import MINIMUM, unsupported
from testbed.repos import FIXTURES


def test_debian_12s_python_is_refused_with_the_reason() -> None:
    problem = unsupported((3, 11, 2, "final", 0))
    assert problem is not None
    assert "needs Python 3.11.4 or newer" in problem
    assert "this is Python 3.11.2" in problem
    assert unsupported((3, 11, 4)) is None
    assert unsupported((3, 13, 0)) is None


def test_installers_are_told_the_same_minimum() -> None:
    project = tomllib.loads((FIXTURES.parent / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=" + ".".join(map(str, MINIMUM))


@pytest.mark.subprocess  # a fresh interpreter
def test_the_command_line_stops_on_an_older_python() -> None:
    script = (
        "import sys\nfrom kpops_bot.cli import main\n"
        "sys.version_info = (3, 11, 2, 'final', 0)\n"
        "sys.argv = ['kpops-bot', 'render', '--repo', '.', '--rev', 'HEAD']\nmain()"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert completed.returncode == 1
    assert "kpops-bot needs Python 3.11.4 or newer" in completed.stderr
    assert "Traceback" not in completed.stderr
