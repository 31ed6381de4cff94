"""Where repository code runs: which isolation layer this machine allows, and the bubblewrap command lines.

A repository's custom components are Python that kpops imports, so every process that loads repository
content (the fork server and its renders, managed-mode kpops) runs in the strongest layer available:

- `namespaces`: bubblewrap, the well-kept tool for this. Own mount namespace in which the system and the bot's
  Python environment are read-only and nothing of the bot's data, settings or home exists; own PID, IPC and UTS
  namespaces; no network for renders (the helm service runs outside and is reached through its socket). Each
  render forked from the fork server then makes a smaller one of its own (`confine`): its checkout read-only,
  its scratch folder writable, nothing of other renders, pid 1 of its own PID namespace.
- `uid`: where namespaces are refused (a default Docker container or Kubernetes pod), a bot running as root runs
  each render as an unprivileged uid of its own, which cannot read the bot's files or `/proc/<bot>/environ`.
- `off`: renders run as the bot; only the limits below remain.

In every layer a render gets rlimits (memory, processes, file size, CPU time), a wall-clock timeout after which
its whole process tree is killed, no inherited descriptor but its result pipe, and an environment built from
nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import site
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import kpops_bot
from kpops_bot.model.kinds import SandboxChoice
from kpops_bot.sandbox.confine import STAGE, ZygoteConfig

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What of /etc a Python process and its name resolution read; never the whole folder (settings may live there).
_ETC_FILES = (
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ssl",
    "/etc/pki",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/mime.types",
)
_ROOT_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL")


class Layer(StrEnum):
    NAMESPACES = "namespaces"
    UID = "uid"
    OFF = "off"


class SandboxUnavailableError(RuntimeError):
    """The chosen layer (or, for `auto`, every layer) does not work on this machine; the message says why."""


@dataclass(frozen=True)
class Sandbox:
    """The effective layer, and why stronger ones were not taken."""

    layer: Layer
    explicit_off: bool = False
    unavailable: dict[Layer, str] = field(default_factory=dict)

    @property
    def runs_as_other_uid(self) -> bool:
        """Renders run as uids of their own (the bot is root): their folders must be handed to them."""
        return self.layer is not Layer.OFF and os.geteuid() == 0

    def describe(self) -> str:
        if self.layer is Layer.NAMESPACES:
            return "sandbox: namespaces (bubblewrap)"
        if self.layer is Layer.UID:
            return "sandbox: separate uid (namespaces unavailable: " + self.unavailable.get(Layer.NAMESPACES, "?") + ")"
        return "sandbox: off (pull request code runs with the bot's own rights)"


_PROBING = threading.Lock()


def probe_soon(choice: SandboxChoice, uid: int) -> None:
    """Start probing the layers now, in the background; `choose` then waits for that probe instead of its own.

    A probe starts a confined Python (a quarter of a second, more on a busy machine) that a command can
    overlap with its imports and git work. An unavailable sandbox is reported by `choose`, as without this.
    """

    def run() -> None:
        with contextlib.suppress(SandboxUnavailableError):
            choose(choice, uid)

    # Not a daemon: a command that ends early (a usage error) waits for the probe, which removes its folder.
    threading.Thread(target=run, name="sandbox-probe").start()


def choose(choice: SandboxChoice, uid: int) -> Sandbox:
    """The layer `choice` gives on this machine; raises when an explicit layer, or for `auto` every one, fails."""
    if choice is SandboxChoice.OFF:
        return Sandbox(Layer.OFF, explicit_off=True)
    unavailable: dict[Layer, str] = {}
    for layer in _candidates(choice):
        with _PROBING:  # a render pool starting in the background and the caller naming the layer probe once
            problem = _probe(layer, uid)
        if problem is None:
            return Sandbox(layer, unavailable=unavailable)
        unavailable[layer] = problem
    reasons = "; ".join(f"{layer.value}: {reason}" for layer, reason in unavailable.items())
    msg = f"no sandbox for pull request code ({reasons}); set sandbox: off to render without one"
    raise SandboxUnavailableError(msg)


def likely(choice: SandboxChoice) -> Layer | None:
    """The layer `choose` will most likely give, without probing: the first it tries whose prerequisite this
    machine has (bubblewrap installed; root for `uid`). None when no layer has it (`choose` will refuse).

    Only a guess, for starting the fork server while the probe runs: nothing may run in it before `choose`
    confirms that layer.
    """
    if choice is SandboxChoice.OFF:
        return Layer.OFF
    return next((layer for layer in _candidates(choice) if _missing_prerequisite(layer) is None), None)


def _candidates(choice: SandboxChoice) -> list[Layer]:
    """The layers `choice` allows, strongest first."""
    layers = (Layer.NAMESPACES, Layer.UID)
    return [layer for layer in layers if choice in (SandboxChoice.AUTO, SandboxChoice(layer.value))]


def _missing_prerequisite(layer: Layer) -> str | None:
    if layer is Layer.NAMESPACES and shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if layer is Layer.UID and os.geteuid() != 0:
        return "the bot does not run as root, so it cannot start processes as another uid"
    return None


@functools.cache
def _probe(layer: Layer, uid: int) -> str | None:
    """Why `layer` does not work here, or None: one process confined exactly as a render is, once per process."""
    missing = _missing_prerequisite(layer)
    if missing is not None:
        return missing
    with tempfile.TemporaryDirectory(prefix="kpops-bot-probe-") as scratch:
        folder = Path(scratch).resolve()
        folder.chmod(0o755)
        for name in ("checkout", "job"):
            (folder / name).mkdir()
        namespaces = layer is Layer.NAMESPACES
        python = [str(path) for path in python_paths()]
        config = ZygoteConfig.confined(
            namespaces=namespaces, sandbox_uid=uid, hide=[str(folder)], python=python, result_limit=16
        )
        command = [sys.executable, "-m", "kpops_bot.engine.zygote", "--probe", config.model_dump_json(), str(folder)]
        if namespaces:
            bwrap = Bwrap(read_only=[folder / "checkout"], writable=[folder / "job"], keep_root_capabilities=True)
            command = bwrap.command(command, cwd=folder / "job")
        return _failure(command)


def _failure(command: list[str]) -> str | None:
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}  # nothing of the bot's, as a render
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if completed.returncode == 0:
        return None
    lines = [line.strip() for line in completed.stderr.strip().splitlines() if line.strip()]
    causes = [line for line in lines if "Error" in line or "bwrap:" in line]
    return (causes or lines or [f"exit code {completed.returncode}"])[-1]


def python_paths() -> list[Path]:
    """The bot's Python environment: interpreter, standard library, installed packages, kpops-bot itself.

    Each both where it really is and by the name the bot's Python uses for it: reached through a symlink
    (`/opt/bot -> /srv/bot-1.2`), `sys.executable` and `sys.path` name the link, which a sandbox that bound only
    the real folder would not have (`bwrap: execvp /opt/bot/bin/python: No such file or directory`).
    """
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()]
    candidates.append(str(Path(kpops_bot.__file__).parent.parent))
    candidates.append(str(Path(sys.executable).parent.parent))
    existing = [Path(path).absolute() for path in candidates if Path(path).exists()]
    return _outermost([*existing, *(path.resolve() for path in existing)])


def _ancestors(paths: Iterable[Path]) -> list[Path]:
    """The folders above `paths` that the sandbox's empty root does not have yet, outermost first."""
    targets = set(paths)
    system = [Path(folder) for folder in _SYSTEM_DIRS]
    found = {
        parent
        for path in targets
        for parent in path.parents
        if parent != Path("/") and not any(parent.is_relative_to(other) for other in [*system, *(targets - {path})])
    }
    return sorted(found, key=lambda folder: len(folder.parts))


def _outermost(paths: Iterable[Path]) -> list[Path]:
    unique = sorted(set(paths), key=lambda path: len(path.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path.is_relative_to(outer) for outer in kept):
            kept.append(path)
    return kept


@dataclass(frozen=True)
class Bwrap:
    """A bubblewrap command line: what is bound in, read-only or writable, and what is hidden again."""

    read_only: Sequence[Path] = ()
    writable: Sequence[Path] = ()
    hidden: Sequence[Path] = ()
    sockets: Sequence[tuple[Path, str]] = ()  # (path outside, path inside)
    network: bool = False
    keep_root_capabilities: bool = False

    def command(self, command: Sequence[str], *, cwd: Path) -> list[str]:
        """The command line; the process's environment is the one bubblewrap is started with (`subprocess`'s
        `env`), passed on as it is: a value on the command line (`--setenv`) is readable by every local user in
        `/proc/<pid>/cmdline` for the process's lifetime, its environment only by its own uid."""
        args = ["bwrap", "--die-with-parent", "--new-session"]
        args += self._namespaces()
        for folder in map(Path, _SYSTEM_DIRS):
            if folder.is_symlink():
                args += ["--symlink", str(folder.readlink()), str(folder)]
            elif folder.is_dir():
                args += ["--ro-bind", str(folder), str(folder)]
        for etc in _ETC_FILES:
            args += ["--ro-bind-try", etc, etc]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", STAGE]
        bound = [*python_paths(), *map(Path, self.read_only)]
        targets = [*bound, *map(Path, self.writable), *(Path(inside) for _, inside in self.sockets)]
        for parent in _ancestors(targets):
            args += ["--perms", "0755", "--dir", str(parent)]  # bwrap would make them 0700: closed to other uids
        for path in bound:
            args += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            args += ["--bind", str(path), str(path)]
        args += self._hiding([*bound, *map(Path, self.writable)])
        for outside, inside in self.sockets:
            args += ["--bind", str(outside), inside]
        args += ["--remount-ro", "/"]
        args += ["--chdir", str(cwd)]
        return [*args, "--", *command]

    def _namespaces(self) -> list[str]:
        shared = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.network:
            shared.append("--unshare-net")
        if os.geteuid() == 0 and self.keep_root_capabilities:
            # The fork server stays root, with just what it needs to give each render its own namespaces and
            # uid; a render drops every capability before it loads repository code.
            capabilities = [arg for cap in _ROOT_CAPABILITIES for arg in ("--cap-add", cap)]
            return [*shared, "--cap-drop", "ALL", *capabilities]
        return [*shared, "--unshare-user", "--cap-drop", "ALL"]

    def _hiding(self, bound: Sequence[Path]) -> list[str]:
        """Cover what must not be seen but lies inside something bound (a data dir below the checkouts' folder)."""
        args: list[str] = []
        for path in self.hidden:
            if not path.exists() or not any(path.resolve().is_relative_to(outer) for outer in bound):
                continue
            if path.is_dir():
                args += ["--tmpfs", str(path.resolve())]
            else:
                args += ["--ro-bind", "/dev/null", str(path.resolve())]
        return args
