"""What one helm command line printed and returned."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    """stdout, stderr and exit code, as a helm process would leave them."""

    returncode: int = 0
    stdout: str = ""
    stderr: str = ""

    def print(self, text: str) -> None:
        self.stdout += text
