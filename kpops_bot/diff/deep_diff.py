"""deepdiff's `DeepDiff`, imported without numpy: a one-shot `kpops-bot diff` started 0.2-0.3 s slower for it.

deepdiff imports numpy when it is installed (kpops' rustworkx brings it) to compare arrays; the diff compares
rendered JSON (dicts, lists, strings, numbers), never an array. Hiding numpy while deepdiff is imported takes
deepdiff's own path for a missing numpy; numpy stays importable for everything else afterwards.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deepdiff import DeepDiff
else:

    def _without_numpy() -> Any:
        hidden = "numpy" not in sys.modules
        if hidden:
            sys.modules["numpy"] = None  # the import system's mark for "not installed"
        try:
            from deepdiff import DeepDiff
        finally:
            if hidden:
                del sys.modules["numpy"]
        return DeepDiff

    DeepDiff = _without_numpy()

__all__ = ["DeepDiff"]
