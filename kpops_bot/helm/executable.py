"""The `helm` executable kpops-bot puts on PATH where no helm binary exists (console script `kpops-bot-helm`).

With `KPOPS_BOT_HELM_SOCKET` set it forwards the command line, with the grant in `KPOPS_BOT_HELM_GRANT`, to the
running helm service, which has Helm's library loaded already; otherwise it runs the front end in this process.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TextIO


def main() -> None:
    from kpops_bot.helm.service import HELM_GRANT_ENV, HELM_SOCKET_ENV, call

    socket_path = os.environ.get(HELM_SOCKET_ENV)
    if socket_path:
        outcome = call(socket_path, sys.argv[1:], os.environ.get(HELM_GRANT_ENV, ""))
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


def install(folder: Path) -> Path:
    """Put a `helm` into `folder` that runs this front end with the current interpreter; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    helm = folder / "helm"
    helm.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "
        "'from kpops_bot.helm.executable import main; main()' \"$@\"\n"
    )
    helm.chmod(0o755)
    return helm
