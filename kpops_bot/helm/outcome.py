"""What one helm command line printed and returned."""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes of a render's `helm template` whose templates went over the render's own budget: the render then
# ends as if it had gone over it itself (see `engine/child.py`), not with an ordinary helm error.
MEMORY_EXCEEDED = 75
CPU_EXCEEDED = 76


@dataclass
class Outcome:
    """stdout, stderr and exit code, as a helm process would leave them."""

    returncode: int = 0
    stdout: str = ""
    stderr: str = ""

    def print(self, text: str) -> None:
        self.stdout += text
