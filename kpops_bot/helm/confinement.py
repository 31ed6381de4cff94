"""What a render may make the helm service read: regular files inside its own folders, within bounds.

The helm service runs with the bot's rights, outside the sandbox. A render names files in its helm command
lines (values files, a chart folder); unchecked, it could name the bot's settings or database and get their
content back in the rendered manifests (a confused deputy). Each render's requests carry a grant that the pool
signed (`service.Grant`) naming the folders it may read; every path is checked against them after the file
is opened (the name the kernel resolved, so a planted symlink or a folder swapped meanwhile cannot point
elsewhere). A file is opened without following a last link and without blocking, and must be a regular file: a
FIFO planted by a pull request would hang the service's reader. "Absent" and "outside" get one error text, so a
render cannot probe which paths exist on the bot's machine. Chart folders are taken from the checkout alone,
which renders cannot write, and are bounded in files and bytes before Helm's loader reads them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_VALUES_BYTES = 16 * 1024 * 1024  # one values file
MAX_CHART_FILES = 2000  # files of one local chart folder, its subcharts included
MAX_CHART_BYTES = 32 * 1024 * 1024  # bytes of one local chart folder


class OutsideGrantError(Exception):
    """A path that is not a regular file inside the folders the render was granted (or does not exist)."""


class ChartLimitError(Exception):
    """A local chart folder over the files or bytes a render's chart may have."""


def _unavailable(path: str) -> OutsideGrantError:
    return OutsideGrantError(f"open {path}: no such file in the folders this render may read")


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
        """The text of `path`, if the file the kernel opened is a regular file in a granted folder."""
        try:
            fd = os.open(self.locate(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            raise _unavailable(path) from error
        with os.fdopen(fd, "rb") as handle:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode) or not _within(Path(f"/proc/self/fd/{fd}").readlink(), self.files):
                raise _unavailable(path)
            if status.st_size > MAX_VALUES_BYTES:
                msg = f"{path}: the values file exceeded its limit of {MAX_VALUES_BYTES // (1024 * 1024)} MiB"
                raise ChartLimitError(msg)
            return handle.read(MAX_VALUES_BYTES + 1).decode("utf-8", errors="replace")

    def chart_folder(self, path: str) -> Path | None:
        """`path` as a local chart folder of the checkout; None when there is none by that name in a granted folder.

        Every entry below it must be a regular file or a folder (through links that stay in the granted folders),
        and the whole within `MAX_CHART_FILES` and `MAX_CHART_BYTES`.
        """
        folder = self.locate(path).resolve()
        if not folder.is_dir() or not _within(folder, self.charts):
            return None
        files = size = 0
        for root, folders, names in os.walk(folder, followlinks=True):
            for name in [*folders, *names]:
                entry = Path(root) / name
                if entry.is_symlink() and not _within(entry.resolve(), self.charts):
                    raise _unavailable(str(entry.relative_to(folder.parent)))
                try:
                    status = entry.stat()
                except OSError as error:  # a dangling link, or a loop of links
                    raise _unavailable(str(entry.relative_to(folder.parent))) from error
                if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)):
                    raise _unavailable(str(entry.relative_to(folder.parent)))
                files += 1
                size += status.st_size if stat.S_ISREG(status.st_mode) else 0
                if files > MAX_CHART_FILES or size > MAX_CHART_BYTES:
                    msg = (
                        f"the chart {path} exceeded its limit of {MAX_CHART_FILES} files and "
                        f"{MAX_CHART_BYTES // (1024 * 1024)} MiB"
                    )
                    raise ChartLimitError(msg)
        return folder


def _within(real: Path, allowed: tuple[Path, ...]) -> bool:
    return any(real == folder or real.is_relative_to(folder) for folder in allowed)
