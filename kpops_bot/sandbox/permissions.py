"""Trees that renders of other uids (the `uid` sandbox) read: a checkout, the environment of a kpops release.

The bot's umask decides the modes git checkouts and installers give (a service with umask 077 makes every folder
0700), so what a render must read is opened explicitly: folders 0755, files readable, and executable by all when
their owner may run them. Only trees without secrets are opened this way; the bot's data stays private.
"""

from __future__ import annotations

import os
from pathlib import Path


def open_to_renders(root: Path) -> None:
    """Let every uid read (and run what is executable in) the tree below `root`; links are left as they are."""
    root.chmod(root.stat().st_mode | 0o755)
    for folder, folders, files in os.walk(root):
        for name in folders:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o755)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))
