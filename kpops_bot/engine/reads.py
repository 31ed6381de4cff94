"""What a render reads inside its checkout, recorded in the render process by a Python audit hook.

The render cache may only serve a stored render while everything that render read is unchanged. Its key covers
the files known in advance (kpops' own files, custom component code); this records the rest, so that a local
Helm chart, a data file a custom component opens, or a folder it lists become inputs of the entry too:
- `open` events (every `open`, `os.open`, `io.open_code` of an import) of paths inside the checkout: files;
- `os.listdir` / `os.scandir` of folders inside the checkout: their entries matter (`glob`, `iterdir`). Not the
  import system's listings: everything it can import from a checkout (`.py`, `.pyc`, `.so`, ...) is custom
  code, which the key and the file rules cover already;
- helm command lines: a chart given as a path (helm loads any existing local path before it looks in a
  repository, and so does the built-in helm) is read as a whole folder, values files as files;
- modules loaded from the checkout (extension modules are opened by the loader, not by `open`);
- anything the hook cannot see into, a process started other than helm, a `ctypes` library, a connection (to the
  helm service other than through kpops' helm calls, or anywhere), a chart outside the repository, is
  `unobserved`, and such a render is never cached.

An audit hook was chosen over tracing system calls (ptrace, fanotify): it needs no privilege and works inside any
sandbox. It cannot see `stat`: a file whose mere presence changes a render without being opened or listed is
not recorded. kpops' own presence checks concern its own files, which the key covers. The report comes from the
render process, which runs the repository's code: it is trusted only for entries whose key holds that same code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kpops_bot.model.render import RenderReads

_OPEN = "open"
_LISTINGS = frozenset({"os.listdir", "os.scandir"})
_PROCESSES = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile"})
_HELM_VALUE_FLAGS = frozenset(
    {"--namespace", "-n", "--values", "-f", "--set-file", "--version", "--api-versions", "--timeout", "--kube-context"}
)


class ReadRecorder:
    """Collects the reads of this process below `root`; `install` it once, before the render starts."""

    def __init__(self, root: Path) -> None:
        self._root = os.path.realpath(root)
        self._files: set[str] = set()
        self._folders: set[str] = set()
        self._trees: set[str] = set()
        self._unobserved: list[str] = []
        self._in_helm = False
        self._loaded_before: dict[str, object] = {}

    def install(self) -> None:
        self._loaded_before = dict(sys.modules)
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == _OPEN:
            self._record(self._files, args[0])
        elif event in _LISTINGS and not _by_the_import_system():
            self._record(self._folders, args[0] if args and args[0] is not None else ".")
        elif event in _PROCESSES and not self._in_helm:
            self._process(event, args)
        elif event == "ctypes.dlopen":
            self._unobserved.append(f"loaded a native library ({args[0]})")
        elif event == "socket.connect" and not self._in_helm:
            self._unobserved.append("opened a connection")

    def _process(self, event: str, args: tuple[Any, ...]) -> None:
        argv = args[1] if event == "subprocess.Popen" and len(args) > 1 else None
        words = [os.fsdecode(word) for word in argv] if isinstance(argv, list | tuple) else []
        if words and Path(words[0]).name == "helm":
            self._record_helm(words)
            return
        self._unobserved.append(f"started a process ({words[0] if words else event})")

    def helm_command(self, command: list[str]) -> list[str]:
        """Record what the render's own helm call reads, until `helm_done`; a local chart's path becomes absolute.

        The built-in helm runs in another process with another working directory, so it must get the path helm
        itself would resolve against the render's working directory.
        """
        self._in_helm = True
        return self._record_helm(command)

    def _record_helm(self, command: list[str]) -> list[str]:
        args = command[1:]
        if not args or args[0] != "template":
            return command
        positional, files = _template_arguments(args[1:])
        for path in files:
            self._record(self._files, path)
        if len(positional) < 2 or "://" in positional[1]:
            return command
        chart = positional[1]
        inside = self._relative(chart)
        if inside is None and Path(chart).exists():
            self._unobserved.append(f"rendered a chart outside the repository ({chart})")
        if inside is not None:
            self._trees.add(inside)
        if not Path(chart).exists():
            return command
        return [str(Path(word).resolve()) if word is chart else word for word in command]

    def helm_done(self) -> None:
        self._in_helm = False

    def reads(self) -> RenderReads:
        # The modules loaded before `install` (the fork server's kpops and its libraries, a thousand of them) come
        # from the Python environment, never from a checkout: only those loaded since are looked at.
        loaded = [module for name, module in list(sys.modules.items()) if self._loaded_before.get(name) is not module]
        self._record_loaded_modules(module.__dict__.get("__file__") for module in loaded)
        return RenderReads(
            files=sorted(self._files),
            folders=sorted(self._folders),
            trees=sorted(self._trees),
            unobserved=list(dict.fromkeys(self._unobserved)),
        )

    def _record_loaded_modules(self, files: Iterable[object]) -> None:
        for file in files:
            if isinstance(file, str):
                self._record(self._files, file)

    def _record(self, into: set[str], path: object) -> None:
        if isinstance(path, int) or path is None:
            return  # a file descriptor: its opening was recorded
        relative = self._relative(os.fsdecode(path))  # type: ignore[arg-type]
        if relative is not None:
            into.add(relative)

    def _relative(self, path: str) -> str | None:
        """`path` relative to the checkout (the link and its target for a symbolic link), None outside it."""
        found: str | None = None
        # abspath keeps a symbolic link's own name, which Path.resolve would replace by its target
        for candidate in (os.path.abspath(path), os.path.realpath(path)):  # noqa: PTH100
            if candidate == self._root or candidate.startswith(self._root + os.sep):
                relative = os.path.relpath(candidate, self._root)
                if found is not None and relative != found:
                    self._files.add(found)
                found = relative
        return found


def _by_the_import_system() -> bool:
    """Whether the folder is being listed by Python's import system (the caller of `os.listdir`)."""
    return sys._getframe(2).f_code.co_filename.startswith("<frozen importlib")


def _template_arguments(args: list[str]) -> tuple[list[str], list[str]]:
    """The positional arguments of `helm template` and the files its flags name."""
    positional: list[str] = []
    files: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        flag, has_value, value = word.partition("=")
        if flag in _HELM_VALUE_FLAGS and not has_value and index + 1 < len(args):
            value = args[index + 1]
            index += 1
        if flag in ("--values", "-f"):
            files.append(value)
        elif flag == "--set-file":
            files.append(value.partition("=")[2])
        elif not word.startswith("-"):
            positional.append(word)
        index += 1
    return positional, files
