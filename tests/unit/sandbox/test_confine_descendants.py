"""What a render leaves without a sandbox is ended by its supervisor: the orphans it adopted, and only then a search.

Runs in a process of its own, which becomes the subreaper as a supervisor does (the test process must not).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.support.hostile import processes_with

SUPERVISOR = """
import os, subprocess, sys
from kpops_bot.sandbox import confine

searches = []
search = confine._children_of
confine._children_of = lambda parent: searches.append(parent) or search(parent)
confine.adopt_orphans()
confine.kill_descendants()
print("searches with no child:", len(searches))
# A render that leaves a daemon behind: its parent ends at once, the daemon is adopted by this process.
subprocess.run(["sh", "-c", f"setsid sleep {sys.argv[1]} >/dev/null 2>&1 &"], check=True)
confine.kill_descendants()
print("searches with a daemon left:", len(searches))
"""


@pytest.mark.subprocess  # a process and its daemon
def test_an_adopted_daemon_is_killed_and_nothing_is_searched_when_no_child_is_left() -> None:
    marker = f"{3000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"  # this run's own
    completed = subprocess.run(
        [sys.executable, "-c", SUPERVISOR, marker], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.splitlines() == ["searches with no child: 0", "searches with a daemon left: 1"]
    assert processes_with(f"sleep {marker}") == []
