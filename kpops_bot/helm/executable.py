"""The `helm` executable kpops-bot puts on PATH where no helm binary exists (console script `kpops-bot-helm`).

With `KPOPS_BOT_HELM_SOCKET` set it forwards the command line to the running helm service, which has Helm's
library loaded already; otherwise it runs the front end in this process.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


def main() -> None:
    from kpops_bot.helm.service import HELM_SOCKET_ENV, call

    socket_path = os.environ.get(HELM_SOCKET_ENV)
    if socket_path:
        outcome = call(socket_path, sys.argv[1:], dict(os.environ))
    else:
        from kpops_bot.helm.frontend import run

        outcome = run(sys.argv[1:])
    _write(sys.stdout, outcome.stdout)
    _write(sys.stderr, outcome.stderr)
    sys.exit(outcome.returncode)


def _write(stream: TextIO, text: str) -> None:
    if text:
        stream.write(text)
        stream.flush()
