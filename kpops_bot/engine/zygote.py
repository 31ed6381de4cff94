"""The fork server: imports kpops once, then forks one fresh, confined process per render.

Importing kpops costs about half of a render. This process pays it once and never touches kpops' state, so
every forked render starts as clean as a new `kpops` process, only sooner. It never loads Helm's Go library
(Go does not survive fork); the helm service does that. With the `namespaces` layer it runs inside bubblewrap.

Each render is two processes. The supervisor (forked from here) makes the render's namespaces (`confine`),
forks the render, enforces its timeout and, when it ends, kills whatever it left: with namespaces the render is
pid 1 of its own PID namespace (all its processes die with it); otherwise the supervisor adopts orphans and
kills them. The render writes its result into a pipe; this process reads at most `result_limit` bytes of it.

Protocol, one JSON object per line: argv[1] is the `ZygoteConfig`; stdin receives `{"id": N, "job": RenderJob}`;
stdout answers `{"id": N, "exit_code": int|null, "signal": int|null, "timed_out": bool, "result": str|null,
"too_large": bool}` when that render has ended. Closing stdin kills every render and ends the server.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import select
import signal
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from kpops_bot.engine.child import MEMORY_EXHAUSTED
from kpops_bot.model.render import RenderJob, RenderLimits
from kpops_bot.sandbox import confine
from kpops_bot.sandbox.confine import ZygoteConfig

TIMED_OUT = 124  # the supervisor's exit code when it killed the render at its deadline
_GRACE = 5.0  # the supervisor's own deadline is the render's; this server kills it this much later
_NEAR_LIMIT = 0.75  # a render that crashed after filling this share of its memory room ran out of memory


@dataclass
class _Render:
    request_id: int
    deadline: float
    slot: int
    result_fd: int
    result: bytearray = field(default_factory=bytearray)
    too_large: bool = False
    timed_out: bool = False


# Imported by kpops' API clients only when a render makes them (each render does, and never calls them): preloaded,
# they cost no render its import (a third of a render's own time). Whichever this kpops release uses.
_LAZY_CLIENT_MODULES = ("httpcore2", "httpcore")


def _preload() -> None:
    import importlib
    import importlib.util

    import kpops.api  # noqa: F401 -- the import is the point

    from kpops_bot.engine.child import kpops_dialect

    importlib.import_module(kpops_dialect().registry_module).Registry().discover_components()
    for name in _LAZY_CLIENT_MODULES:
        if importlib.util.find_spec(name) is not None:
            _share_ssl_context(importlib.import_module(name))


# What decides the certificates httpcore2's `default_ssl_context` loads, besides the machine's own paths.
_SSL_ENVIRONMENT = ("SSL_CERT_FILE", "SSL_CERT_DIR")


def _share_ssl_context(module: ModuleType) -> None:
    """Each of kpops' API clients (three per render, none ever called) builds an SSL context, which parses the
    machine's whole CA bundle: 0.14 s of a render's 0.17 s of CPU without a sandbox (inside one, a profile of the
    render shows no such parse, which is why `sandbox: off` rendered slower than the sandbox). The context is made
    once here and shared by the renders forked from this process when their environment picks the same
    certificates; any other asks the library as before."""
    make = getattr(module, "default_ssl_context", None)
    if make is None:
        return
    made_with = {name: os.environ.get(name) for name in _SSL_ENVIRONMENT}
    shared: ssl.SSLContext = make()

    def default_ssl_context(*, _trust_env: bool = True) -> ssl.SSLContext:
        if _trust_env and {name: os.environ.get(name) for name in _SSL_ENVIRONMENT} == made_with:
            return shared
        return make(_trust_env=_trust_env)  # type: ignore[no-any-return]

    module.default_ssl_context = default_ssl_context  # type: ignore[attr-defined]


def without_bot_checkout(path: list[str]) -> list[str]:
    """`path` (a `sys.path`) without the folder that holds the bot's package, unless that is a site-packages.

    An editable install (what `scripts/setup` makes) puts the bot's checkout on `sys.path`, and with it its `tests`,
    `bench` and `scripts` folders: a deployment repository's own `tests` package (kpops' test repository has one)
    was shadowed (`No module named 'tests.pipeline'`). The bot's package is imported already and finds its modules
    by its own `__path__`; the renders need nothing else from that folder.
    """
    import site

    import kpops_bot

    checkout = Path(kpops_bot.__file__).resolve().parent.parent
    if checkout in {Path(folder).resolve() for folder in site.getsitepackages()}:
        return path
    return [entry for entry in path if Path(entry or ".").resolve() != checkout]


def main() -> NoReturn:
    if sys.argv[1] == "--probe":
        probe(ZygoteConfig.model_validate_json(sys.argv[2]), Path(sys.argv[3]))
    config = ZygoteConfig.model_validate_json(sys.argv[1])
    path_entry = str(Path.cwd())
    sys.path[:] = without_bot_checkout(sys.path)
    # Importing kpops makes a great many objects and hardly any garbage: the collector, left on, would walk them
    # again and again (a sixth of the import). Frozen afterwards, they are never walked again, neither here nor
    # in the renders forked from here (which then do not copy their pages for it either).
    gc.disable()
    _preload()
    gc.freeze()
    gc.enable()
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    renders: dict[int, _Render] = {}
    pending = b""
    stdin_open = True
    _emit({"ready": True})
    while stdin_open or renders:
        fds = [wakeup_read, *(render.result_fd for render in renders.values())]
        readable = _wait([0, *fds] if stdin_open else fds, renders)
        if wakeup_read in readable:
            os.read(wakeup_read, 4096)
        if 0 in readable:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                stdin_open = False
                _kill_all(renders)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    _start(json.loads(line), renders, path_entry, config)
        for render in renders.values():
            if render.result_fd in readable:
                _read_result(render, config.result_limit)
        _expire(renders)
        _reap(renders, config.result_limit)
    # Every answer is written (`_emit` writes straight to the fd) and no render is left: tearing down the
    # interpreter that imported kpops would only make the pool's close wait (a fifth of a second).
    os._exit(0)


def _wait(fds: list[int], renders: dict[int, _Render]) -> list[int]:
    nearest = min((render.deadline for render in renders.values()), default=None)
    timeout = None if nearest is None else max(0.0, nearest - time.monotonic())
    try:
        readable, _, _ = select.select(fds, [], [], timeout)
    except InterruptedError:
        return []
    return readable


def _start(request: dict[str, object], renders: dict[int, _Render], path_entry: str, config: ZygoteConfig) -> None:
    job = RenderJob.model_validate(request["job"])
    request_id = int(str(request["id"]))
    slot = min(set(range(len(renders) + 1)) - {render.slot for render in renders.values()})
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _supervise(job, config, slot, result_write, functools.partial(_render_kpops, path_entry))
    os.close(result_write)
    os.set_blocking(result_read, False)
    renders[pid] = _Render(request_id, time.monotonic() + job.timeout + _GRACE, slot, result_read)


def _read_result(render: _Render, limit: int) -> None:
    while True:
        try:
            chunk = os.read(render.result_fd, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            return
        if len(render.result) + len(chunk) > limit:
            render.too_large = True
            render.result.clear()
        if not render.too_large:
            render.result += chunk


def _expire(renders: dict[int, _Render]) -> None:
    now = time.monotonic()
    for pid, render in renders.items():
        if not render.timed_out and render.deadline <= now:
            render.timed_out = True
            _kill_group(pid)


def _kill_all(renders: dict[int, _Render]) -> None:
    for pid in renders:
        _kill_group(pid)


def _kill_group(pid: int) -> None:
    """Kill a supervisor and its session; its render dies with it (parent-death signal)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return


def _reap(renders: dict[int, _Render], limit: int) -> None:
    while renders:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        render = renders.pop(pid, None)
        if render is None:
            continue
        _read_result(render, limit)
        os.close(render.result_fd)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        _emit(
            {
                "id": render.request_id,
                "exit_code": code,
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                "timed_out": render.timed_out or code == TIMED_OUT,
                "result": None if render.too_large else render.result.decode("utf-8", errors="replace"),
                "too_large": render.too_large,
            }
        )


def _emit(message: dict[str, object]) -> None:
    data = (json.dumps(message) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def probe(config: ZygoteConfig, folder: Path) -> NoReturn:
    """Confine one process as a render is confined (in `folder`'s `checkout` and `job`); exit 0 if all of it worked.

    What a machine allows shows only when tried: bubblewrap may start where a render's own namespaces or its
    /proc are refused (a container's masked /proc), or a uid cannot read the Python environment.
    """
    job = RenderJob(
        pipeline="probe",
        pipeline_file="probe",
        revision="probe",
        checkout=str(folder / "checkout"),
        env={},
        scratch=str(folder / "job"),
        log_file=str(folder / "job" / "probe.log"),
        timeout=60,
        limits=RenderLimits(memory_bytes=1 << 31, processes=64, file_size_bytes=1 << 20, cpu_seconds=60),
    )
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        _supervise(job, config, 0, result_write, _probe_body)
    os.close(result_write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(result_read, 16)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and answer == b"ok":
        os._exit(0)
    sys.stderr.write(Path(job.log_file).read_text(errors="replace") if Path(job.log_file).exists() else "")
    sys.stderr.write(f"a confined render could not start (status {status})\n")
    os._exit(1)


def _probe_body(job: RenderJob, result_fd: int) -> int:
    """A render imports modules as it goes: the Python environment must be readable where and as whom it runs."""
    import importlib.util

    kpops = importlib.util.find_spec("kpops")
    for path in (os.__file__, __file__, kpops.origin if kpops else None):
        if path:
            Path(path).read_bytes()
    if not os.access(sys.executable, os.X_OK):
        raise PermissionError(f"{sys.executable} cannot be run")
    os.write(result_fd, b"ok")
    return 0


def _render_kpops(path_entry: str, job: RenderJob, result_fd: int) -> int:
    from kpops_bot.engine import child

    return child.run(job, path_entry, result_fd)


def _supervise(
    job: RenderJob, config: ZygoteConfig, slot: int, result_fd: int, body: Callable[[RenderJob, int], int]
) -> NoReturn:
    """The supervisor: confine, fork the render, wait for it within its timeout, kill what it left, exit."""
    code = 70
    try:
        os.setsid()
        _redirect_output(job.log_file)
        confine.close_descriptors([result_fd])
        uid, gid = os.getuid(), os.getgid()
        if config.namespaces:
            flags = confine.CLONE_NEWNS | confine.CLONE_NEWPID
            if config.nested_user_namespace:
                confine.unshare(flags | confine.CLONE_NEWUSER)
                confine.map_own_ids(uid, gid)
            else:
                confine.unshare(flags)
            kept = [(job.checkout, False), (job.scratch, True), *((path, False) for path in config.keep)]
            confine.keep_only(kept, config.hide)
        else:
            confine.adopt_orphans()
        baseline = _MemoryAtFork.measure()  # the render starts with this process's memory
        render_pid = os.fork()
        if render_pid == 0:
            _render(job, config, slot, result_fd, body, (uid, gid))
        os.close(result_fd)
        code = _wait_for(render_pid, job.timeout, baseline.room(job.limits.memory_bytes))
        if not config.namespaces:
            confine.kill_descendants()
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


@dataclass(frozen=True)
class _MemoryAtFork:
    address_space: int
    resident: int

    @classmethod
    def measure(cls) -> _MemoryAtFork:
        pages = Path("/proc/self/statm").read_text().split()
        size = os.sysconf("SC_PAGE_SIZE")
        return cls(int(pages[0]) * size, int(pages[1]) * size)

    def room(self, limit: int) -> tuple[int, int]:
        """(resident at start, bytes the render may still map) under an address-space `limit`."""
        return self.resident, max(1, limit - self.address_space)


def _wait_for(pid: int, timeout: float, memory: tuple[int, int]) -> int:
    """The render's exit code (128 + signal when killed), MEMORY_EXHAUSTED, or TIMED_OUT after killing it."""
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd], [], [], timeout)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return TIMED_OUT
    _, status, usage = os.wait4(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    # Native code (pydantic-core, the YAML parser) aborts or crashes when an allocation fails, where Python
    # would raise MemoryError: a render that died after using most of the room it had ran out of memory.
    resident_at_start, room = memory
    if code not in (0, MEMORY_EXHAUSTED) and usage.ru_maxrss * 1024 - resident_at_start >= room * _NEAR_LIMIT:
        return MEMORY_EXHAUSTED
    return code


def _render(
    job: RenderJob,
    config: ZygoteConfig,
    slot: int,
    result_fd: int,
    body: Callable[[RenderJob, int], int],
    ids: tuple[int, int],
) -> NoReturn:
    """The render process: the last of its confinement, its limits, then kpops (`body`)."""
    code = 70
    try:
        confine.die_with_parent()
        if config.namespaces:
            confine.mount_proc()
        if config.first_uid is not None:
            uid = config.first_uid + slot
            confine.chown_tree(job.scratch, uid, uid)
            confine.become(uid, uid)
        elif config.nested_user_namespace:
            confine.lock_mounts(*ids)
            confine.drop_capabilities()
        if not config.namespaces:
            os.setsid()
        confine.apply_limits(job.limits)
        code = body(job, result_fd)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _redirect_output(log_file: str) -> None:
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)


if __name__ == "__main__":
    main()
