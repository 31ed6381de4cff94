"""What a render may make the helm service read: files inside its own folders, nothing else.

The helm service runs with the bot's rights, outside the sandbox. A render names files in its helm command
lines (values files, a chart folder); unchecked, it could name the bot's settings or database and get their
content back in the rendered manifests (a confused deputy). Each render's requests carry a grant that the pool
signed (`service.Grant`) naming the folders it may read; every path is checked against them after the file
is opened (the name the kernel resolved, so a planted symlink or a folder swapped meanwhile cannot point
elsewhere). Chart folders are taken from the checkout alone, which renders cannot write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class OutsideGrantError(Exception):
    """A path outside the folders the render was granted."""


@dataclass(frozen=True)
class ReadableFolders:
    files: tuple[Path, ...]  # values files may come from here
    charts: tuple[Path, ...]  # local chart folders may come from here
    cwd: Path  # the render's working directory: relative paths are relative to it, not to the service

    @classmethod
    def of(cls, files: list[str], charts: list[str], cwd: str) -> ReadableFolders:
        return cls(tuple(Path(p).resolve() for p in files), tuple(Path(p).resolve() for p in charts), Path(cwd))

    def locate(self, path: str) -> Path:
        return self.cwd / path

    def read_text(self, path: str) -> str:
        """The text of `path`, if the file the kernel opened lies in a granted folder."""
        try:
            fd = os.open(self.locate(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            raise OutsideGrantError(f"open {path}: {error.strerror or error}") from error
        with os.fdopen(fd, encoding="utf-8") as handle:
            self._require(Path(f"/proc/self/fd/{fd}").readlink(), self.files, path)
            return handle.read()

    def chart_folder(self, path: str) -> Path:
        """`path` as a chart folder, if it and every link inside it stay in a granted chart folder."""
        folder = self.locate(path).resolve()
        self._require(folder, self.charts, path)
        for root, folders, files in os.walk(folder):
            for name in [*folders, *files]:
                entry = Path(root) / name
                if entry.is_symlink():
                    self._require(entry.resolve(), self.charts, str(entry))
        return folder

    @staticmethod
    def _require(real: Path, allowed: tuple[Path, ...], shown: str) -> None:
        if not any(real == folder or real.is_relative_to(folder) for folder in allowed):
            msg = f"{shown} is outside the folders this render may read"
            raise OutsideGrantError(msg)
