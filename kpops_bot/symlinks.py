"""A revision's files as its checkout shows them: symbolic links followed, as kpops follows them.

git keeps a symbolic link as a blob of mode 120000 whose content is the target path. kpops reads through links:
it opens a linked `pipeline.yaml` or `defaults.yaml` like any file, and resolves a pipeline's path before it walks
up for defaults and names the pipeline (`get_defaults_file_paths`, `set_pipeline_name_env_vars`; the same in 8.1.4
and 12.0.3). kpops 12 finds pipelines below a folder with `glob(..., recursive=True)`, which enters linked
folders (8.1.4's `Path.glob` does not; the bot renders each pipeline by its own path, so every release sees a
linked folder's pipeline). So a change to a link's target is a change at every path that leads to it, and a link
added, removed or pointed elsewhere changes every path through it.

`visible_tree` lists every path a checkout shows with what it is made of: the git path whose content it has and
the links on the way. Pure: git paths and link targets in, no file system.

A link is followed only inside the repository, like the checkout (`workspace.checkout`) keeps only those: an
absolute target, or one that climbs above the root, leads nowhere. So do a missing target, a regular file used as
a folder and more than 40 links in one lookup (Linux's limit). A link to a folder above it would show that folder
inside itself without end: such a link is shown but not entered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_LINKS_FOLLOWED = 40  # per lookup, as Linux's ELOOP
MAX_VISIBLE_PATHS = 100_000  # links to folders multiply what a checkout shows: past this, the revision is refused


class TooManyPathsError(ValueError):
    """Links that show more paths than the bot lists; the message says so and how to fix it."""


@dataclass(frozen=True)
class Seen:
    """What one visible path is made of: `real` is the git path holding its content (None: a link leading
    nowhere, shown as it is), `via` the links followed to reach it (its own among them when it is one)."""

    real: str | None
    via: frozenset[str] = frozenset()

    def git_paths(self, shown: str) -> list[str]:
        """The git paths whose content or presence makes `shown`: itself, its target and every link on the way."""
        return sorted({shown, *self.via, *([self.real] if self.real else [])})


def visible_tree(paths: Iterable[str], links: Mapping[str, str]) -> dict[str, Seen]:
    """Every path of a checkout of a revision whose git paths are `paths` (links included) and whose links are
    `links` (path → target, as git stores it)."""
    paths = list(paths)
    if not links:
        return {path: Seen(path) for path in paths}
    tree = _Tree(paths, links)
    shown: dict[str, Seen] = {}
    # (real folder, shown folder, links followed to it, the real folders entered on the way and their parents)
    pending: list[tuple[str, str, frozenset[str], frozenset[str]]] = [(".", ".", frozenset(), frozenset({"."}))]
    while pending:
        real_folder, shown_folder, via, around = pending.pop()
        for name in tree.children.get(real_folder, ()):
            real, path = _join(real_folder, name), _join(shown_folder, name)
            if real in tree.folders:
                pending.append((real, path, via, around | {real}))
                continue
            if real not in links:
                shown[path] = Seen(real, via)
            else:
                resolved = tree.resolve(real)
                if resolved is None:
                    shown[path] = Seen(None, via | {real})
                elif resolved[0] in tree.folders:
                    target, followed = resolved
                    if target not in around:  # a folder entered on the way, or one above it: shows itself
                        pending.append((target, path, via | followed, around | _with_parents(target)))
                else:
                    shown[path] = Seen(resolved[0], via | resolved[1])
            if len(shown) > MAX_VISIBLE_PATHS:
                msg = (
                    f"its links to folders show more than {MAX_VISIBLE_PATHS} paths (`{_short(path)}` is one): "
                    "the bot does not list them. Link fewer folders, or link files instead."
                )
                raise TooManyPathsError(msg)
    return shown


class _Tree:
    """The folders of a git tree and a lookup of paths through its links."""

    def __init__(self, paths: list[str], links: Mapping[str, str]) -> None:
        self.links = links
        self.files = frozenset(path for path in paths if path not in links)
        self.children: dict[str, list[str]] = {}
        self.folders: set[str] = {"."}
        self._resolved: dict[str, tuple[str, frozenset[str]] | None] = {}
        for path in paths:
            parts = path.split("/")
            for depth in range(len(parts)):
                folder = "/".join(parts[:depth]) or "."
                entry = parts[depth]
                if depth < len(parts) - 1:
                    child = "/".join(parts[: depth + 1])
                    if child in self.folders:
                        continue
                    self.folders.add(child)
                self.children.setdefault(folder, []).append(entry)

    def resolve(self, path: str) -> tuple[str, frozenset[str]] | None:
        """The git path `path` leads to (a file or a folder) and the links followed; None when it leads nowhere."""
        if path not in self._resolved:
            self._resolved[path] = self._lookup(path)
        return self._resolved[path]

    def _lookup(self, path: str) -> tuple[str, frozenset[str]] | None:
        real: list[str] = []
        followed: set[str] = set()
        hops = 0
        pending = deque(path.split("/"))
        while pending:
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not real:
                    return None  # above the repository's root
                real.pop()
                continue
            candidate = "/".join([*real, part])
            target = self.links.get(candidate)
            if target is None:
                last = all(rest in ("", ".") for rest in pending)
                if candidate in self.folders or (candidate in self.files and last):
                    real.append(part)
                    continue
                return None  # missing, or a file used as a folder
            followed.add(candidate)
            hops += 1
            if target.startswith("/") or not target or hops > MAX_LINKS_FOLLOWED:
                return None
            pending.extendleft(reversed(target.split("/")))
        return "/".join(real) or ".", frozenset(followed)


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def _with_parents(folder: str) -> frozenset[str]:
    parts = folder.split("/")
    return frozenset({".", *("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))})


def _short(path: str) -> str:
    return path if len(path) <= 120 else path[:117] + "..."
