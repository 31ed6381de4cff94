"""The read recorder's view of loaded modules: an extension module is opened by the loader without an `open` event,
so the modules a render loaded from its checkout are read from `sys.modules` when the render ends. Those the fork
server loaded before the render (kpops and its libraries) are not the render's reads.

An audit hook stays installed for the life of its process, so the recorder runs in a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RECORD = """
import json, sys, types
from kpops_bot.engine.reads import ReadRecorder

checkout = sys.argv[1]

def module(name, file):
    loaded = types.ModuleType(name)
    loaded.__file__ = file
    sys.modules[name] = loaded

module("early", checkout + "/early.so")  # loaded before the render began, as the fork server's modules are
module("replaced", checkout + "/replaced-before.so")
recorder = ReadRecorder(checkout)
recorder.install()
module("late", checkout + "/late.so")  # loaded by the render (an extension module: no `open` event)
module("replaced", checkout + "/replaced.so")  # loaded again by the render, under a name taken before
module("elsewhere", "/usr/lib/elsewhere.so")
print(json.dumps(recorder.reads().files))
"""


@pytest.mark.subprocess  # a fresh interpreter
def test_modules_the_render_loaded_from_its_checkout_are_reads_and_those_loaded_before_it_are_not(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", RECORD, str(tmp_path.resolve())], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == ["late.so", "replaced.so"]
