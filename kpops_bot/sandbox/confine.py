"""System calls a forked render makes to confine itself: namespaces, mounts, uid, capabilities, limits.

bubblewrap builds the fork server's sandbox, but each render forked from it needs a fresh, smaller one of its
own, and exec'ing bwrap again would lose the kpops the fork server imported. So these few calls are made
directly, through ctypes: Python 3.11 has neither `os.unshare` nor `mount`. Nothing here decides anything; the
fork server (`engine.zygote`) says what to call in which order. `ZygoteConfig` is what it is told: the pool
decides it, and the sandbox probe (`layers`) starts one process confined by it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from kpops_bot.model.render import RenderLimits

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_MOVE = 0x2000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_MS_RELATIME = 1 << 21
_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# An empty folder bubblewrap makes at the sandbox's root: where a render stages its own mounts.
STAGE = "/.kpops-bot-stage"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def map_own_ids(uid: int, gid: int) -> None:
    """In a user namespace just made: the same uid and gid inside as outside, and nothing else."""
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def keep_only(keep: Sequence[tuple[str, bool]], hide: Sequence[str]) -> None:
    """In a mount namespace just made: cover every folder of `hide`, then put back only the paths of `keep`.

    `keep` holds (path, writable); each path reappears at its own place, so what kpops prints is unchanged.
    A kept path that is read-only in the fork server stays read-only: the kernel locks that flag.
    """
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE)
    _mount("tmpfs", STAGE, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755")
    staged: list[tuple[str, str, bool]] = []
    for index, (path, writable) in enumerate(keep):
        place = f"{STAGE}/{index}"
        Path(place).mkdir()
        _mount(path, place, None, _MS_BIND | _MS_REC)
        staged.append((place, path, writable))
    covered: list[str] = []
    for root in sorted(hide, key=len):
        if not any(is_within(root, outer) for outer in covered):
            _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755")
            covered.append(root)
    for place, path, writable in staged:
        Path(path).mkdir(parents=True, exist_ok=True)
        _mount(place, path, None, _MS_MOVE)
        if not writable:
            _mount("none", path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _flags_of(path))
    _check(_libc.umount2(STAGE.encode(), _MNT_DETACH), f"umount {STAGE}")


def _flags_of(path: str) -> int:
    """The mount flags `path` has now: a remount inside a user namespace must keep the ones the kernel locked."""
    flags = os.statvfs(path).f_flag
    kept = flags & (os.ST_RDONLY | os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC | os.ST_NOATIME | os.ST_NODIRATIME)
    return kept | (_MS_RELATIME if flags & os.ST_RELATIME else 0)


def is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def mount_proc() -> None:
    """A /proc of this PID namespace: the render sees its own processes and no other."""
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV)


def lock_mounts(uid: int, gid: int) -> None:
    """Copy the mounts into a namespace of a new user namespace: the kernel then locks them (no unmounting)."""
    unshare(CLONE_NEWUSER | CLONE_NEWNS)
    map_own_ids(uid, gid)


def drop_capabilities() -> None:
    """Clear every capability (a new user namespace grants all of them inside it)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    empty = (Data * 2)()
    _check(_libc.capset(ctypes.byref(Header(_LINUX_CAPABILITY_VERSION_3, 0)), empty), "capset")


def become(uid: int, gid: int) -> None:
    """Switch to an unprivileged uid for good (the switch from root clears all capabilities)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def chown_tree(folder: str, uid: int, gid: int) -> None:
    """Hand a folder to a uid; bottom-up, since the caller may enter only folders it still owns."""
    for root, folders, files in os.walk(folder, topdown=False):
        for name in [*folders, *files]:
            os.chown(Path(root) / name, uid, gid, follow_symlinks=False)
        os.chown(root, uid, gid)


def die_with_parent() -> None:
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")


def adopt_orphans() -> None:
    """Orphaned descendants (a `setsid` daemon) become this process's children, so it can end them."""
    _check(_libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl")


def apply_limits(limits: RenderLimits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def close_descriptors(keep: Sequence[int]) -> None:
    """Close every descriptor above 2 except `keep`."""
    kept = sorted(set(keep))
    start = 3
    for fd in [*kept, resource.getrlimit(resource.RLIMIT_NOFILE)[0]]:
        if fd >= start:
            os.closerange(start, fd)
        start = max(start, fd + 1)


def kill_descendants() -> None:
    """Kill every process below this one, orphans included (they were adopted), until none is left.

    Finding them reads the status of every process on the machine: 37 ms after every render on a busy machine
    (170 processes), half a render, which made `sandbox: off` slower than the sandbox (whose PID namespace ends
    them without a search). So the search runs only when the kernel says that a child is left.
    """
    me = os.getpid()
    while _has_children():
        children = _children_of(me)
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                continue


def _has_children() -> bool:
    """Whether this process has a child, running or ended; none is reaped."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WSTOPPED | os.WCONTINUED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _children_of(parent: int) -> list[int]:
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            children.append(int(entry.name))
    return children


class ZygoteConfig(BaseModel):
    """How renders are confined; decided by the pool, which knows the layer and its folders."""

    namespaces: bool = False
    nested_user_namespace: bool = False  # the fork server is not root: each render makes its own user namespace
    first_uid: int | None = None  # the bot is root: render slot N runs as first_uid + N
    hide: list[str] = []  # folders of checkouts and jobs: a render sees only its own
    keep: list[str] = []  # read-only folders inside hidden ones that a render still needs: the bot's Python
    result_limit: int = 64 * 1024 * 1024

    @classmethod
    def confined(
        cls, *, namespaces: bool, sandbox_uid: int, hide: list[str], python: list[str], result_limit: int
    ) -> ZygoteConfig:
        """Renders in namespaces (`hide` covered) or as uids of their own; a root bot never renders as root.

        `python` is the bot's Python environment: a render imports as it goes, so the parts of it that lie in a
        hidden folder (a clone or venv under /tmp) stay visible, read-only.
        """
        root = os.geteuid() == 0
        hidden = [*hide, "/tmp", "/dev/shm"] if namespaces else []
        return cls(
            namespaces=namespaces,
            nested_user_namespace=namespaces and not root,
            first_uid=sandbox_uid if root else None,
            hide=hidden,
            keep=[path for path in python if any(is_within(path, folder) for folder in hidden)],
            result_limit=result_limit,
        )
