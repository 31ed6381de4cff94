"""Runs renders in parallel through the fork server, each in its own directory, environment and sandbox.

The pool owns two long-lived processes: the fork server (kpops imported, forks a confined process per render;
inside bubblewrap with the `namespaces` layer) and the helm service (Helm's Go library loaded once; always when
renders are sandboxed, since they have no network, else where no helm binary is on PATH). Each render gets a
scratch folder with its own HOME and TMPDIR, and Helm repository config and cache that only the helm service
touches; all are removed when its result has been read. The result comes back through the fork server's pipe
and is checked here (size, shape, identity) before anything uses it.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

import kpops_bot
from kpops_bot import metrics
from kpops_bot.engine.child import MEMORY_EXHAUSTED
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.helm import service as helm_service
from kpops_bot.helm.mirrors import MIRRORS_ENV
from kpops_bot.helm.repositories import CHART_CACHE_ENV
from kpops_bot.model.render import ErrorKind, Mode, Operation, PipelineRender, RenderError, RenderJob, RenderLimits
from kpops_bot.sandbox.confine import ZygoteConfig
from kpops_bot.sandbox.layers import (
    Bwrap,
    Layer,
    Sandbox,
    SandboxUnavailableError,
    choose,
    likely,
    python_paths,
)
from kpops_bot.sandbox.permissions import open_to_renders
from kpops_bot.versions.environments import KpopsEnvironment
from kpops_bot.versions.index import bot_kpops_version

_SOCKET_INSIDE = "/run/kpops-bot/helm.sock"
_RESULT_LIMIT = 64 * 1024 * 1024
_SANDBOX_ENDED = {ErrorKind.LIMIT, ErrorKind.TIMEOUT, ErrorKind.CRASH}
_SIGXCPU = 24
_SIGXFSZ = 25
_OPENED_KEPT = 64  # checkouts remembered as opened to renders; those removed since are forgotten beyond that


@dataclass(frozen=True)
class RenderRequest:
    """One pipeline of one checkout, in one environment, mode and operation."""

    pipeline: str
    pipeline_file: str
    checkout: Path
    revision: str
    environment: str | None = None
    mode: Mode = Mode.MANIFEST
    operation: Operation = Operation.DEPLOY
    config_dir: str = "."
    kpops_version: str | None = None  # the release that renders it; None: the pool's own


class PoolClosedError(RuntimeError):
    """The fork server is gone; renders cannot be run."""


class RenderPool:
    """Render pipelines, `settings.workers` at a time. Use as a context manager.

    `checkouts`: the folders below which checkouts are made (default: the temporary folder); a sandboxed render
    sees its own checkout there and nothing else. `hidden`: the bot's own files (data folder, settings file),
    covered should they lie inside anything the sandbox binds.
    """

    def __init__(
        self,
        settings: EngineSettings,
        *,
        checkouts: Sequence[Path] = (),
        hidden: Sequence[Path] = (),
        kpops: KpopsEnvironment | None = None,
    ) -> None:
        self._settings = settings
        self._kpops = kpops
        self._checkouts = [path.resolve() for path in checkouts] or [Path(tempfile.gettempdir()).resolve()]
        self._hidden = list(hidden)
        self._sandbox: Sandbox | None = None
        self._helm_key = helm_service.new_key()
        self._root = self._new_root()
        self._ids = itertools.count(1)
        self._waiting: dict[int, Future[dict[str, object]]] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="render")
        self._helm: subprocess.Popen[str] | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()  # the fork server has imported kpops and takes renders
        self._first_line = threading.Event()  # it said whether it is ready (or ended without a word)
        self._stopped = False  # its answers ended: nothing written to it now would be answered
        self._opening = threading.Lock()
        self._opened: dict[Path, tuple[int, int]] = {}  # checkout → its folder's (inode, change time) once opened

    def __enter__(self) -> RenderPool:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def settings(self) -> EngineSettings:
        return self._settings

    @property
    def kpops_version(self) -> str:
        """The kpops release this pool renders with: its environment's, or the bot's own."""
        return str(self._kpops.version) if self._kpops is not None else bot_kpops_version()

    def kpops_release(self, files: Sequence[str], read: Callable[[str], str | None]) -> str:
        """This pool renders every revision with its one release, whatever the repository pins."""
        del files, read
        return self.kpops_version

    @property
    def uses_builtin_helm(self) -> bool:
        return self._helm is not None

    @property
    def chart_cache(self) -> Path:
        """Chart archives shared by this pool's renders; only the helm service reads and writes it."""
        return self._root / "charts"

    @property
    def sandbox(self) -> Sandbox:
        """The isolation renders get (known once the pool has started)."""
        if self._sandbox is None:
            msg = "the render pool has not started"
            raise PoolClosedError(msg)
        return self._sandbox

    def start(self) -> None:
        """Start the helm service and the fork server and wait until it takes renders; raises
        SandboxUnavailableError when no layer works, PoolClosedError when the fork server did not start."""
        self.launch()
        self._first_line.wait()
        if not self._ready.is_set():
            self.close()
            msg = "the render fork server did not start"
            raise PoolClosedError(msg)

    def launch(self) -> None:
        """`start` without waiting for the fork server's import of kpops (most of a second): renders submitted
        meanwhile wait in its stdin, and the caller goes on with its own work (git, cache lookups).

        The sandbox probe takes a quarter of a second: the fork server starts at once in the layer the probe will
        most likely confirm (`likely`), and imports kpops meanwhile; it gets no render before the probe has
        confirmed that layer. Should the probe give another layer, that fork server and helm service are ended,
        their folder removed, and the pool starts afresh in the layer the probe gave.
        """
        guess = likely(self._settings.sandbox)
        if guess is not None:
            try:
                self._start_processes(Sandbox(guess))
            except OSError:  # the probe says why that layer fails; the pool then starts in the one it gives
                self._stop_processes()
                guess = None
        try:
            sandbox = choose(self._settings.sandbox, self._settings.sandbox_uid)
        except SandboxUnavailableError:
            self._stop_processes()
            shutil.rmtree(self._root, ignore_errors=True)
            raise
        if sandbox.layer is not guess:
            self._stop_processes()
            shutil.rmtree(self._root, ignore_errors=True)
            self._helm_key = helm_service.new_key()
            self._root = self._new_root()
            self._start_processes(sandbox)
        if self._helm is not None:
            try:
                helm_service.wait_ready(self._helm)
            except RuntimeError:
                self.close()
                raise
        self._sandbox = sandbox  # renders may run from now on
        self._reader = threading.Thread(target=self._read_answers, name="render-answers", daemon=True)
        self._reader.start()

    def _new_root(self) -> Path:
        root = Path(tempfile.mkdtemp(prefix="kpops-bot-render-", dir=self._settings.work_dir_or_none())).resolve()
        for folder in ("jobs", "helm", "zygote"):
            (root / folder).mkdir()
        return root

    def _start_processes(self, sandbox: Sandbox) -> None:
        """Start the helm service (when renders need it) and the fork server, confined as `sandbox` says."""
        base_env = self._process_env()
        sandboxed = sandbox.layer is not Layer.OFF
        if self._settings.needs_builtin_helm(base_env["PATH"], sandboxed=sandboxed):
            # Loads Helm's library while the fork server imports kpops (its socket listens already).
            self._helm = helm_service.launch(str(self._socket), base_env, self._helm_key)
        zygote_home = self._root / "zygote"
        if sandbox.runs_as_other_uid:  # whatever the bot's umask: renders of other uids reach their own
            for folder in (self._root, self._root / "jobs", zygote_home):  # job folder and the bot's source by
                folder.chmod(0o711)  # name, and list nothing
        env = {**base_env, "HOME": str(zygote_home), "TMPDIR": str(zygote_home)}
        python = sys.executable
        if self._kpops is not None:
            python = str(self._kpops.python)
            source = _bot_source_only(zygote_home)
            source.chmod(0o755)  # imported by renders, which may run as other uids
            env["PYTHONPATH"] = str(source)
        command = [python, "-m", "kpops_bot.engine.zygote", self._zygote_config(sandbox.layer).model_dump_json()]
        if sandbox.layer is Layer.NAMESPACES:
            bwrap = Bwrap(
                read_only=[*self._checkouts, zygote_home, *(self._kpops.paths() if self._kpops else [])],
                writable=[self._root / "jobs"],
                hidden=[*self._hidden, self._root / "helm", self.chart_cache],
                sockets=[(self._socket, _SOCKET_INSIDE)] if self._helm is not None else [],
                keep_root_capabilities=True,
            )
            command = bwrap.command(command, cwd=zygote_home)
        # A group of its own: bubblewrap's inner pid 1 may not have set --die-with-parent yet when the outer one is
        # killed (seen on a busy machine: an orphaned sandbox left running); killing the group ends both.
        self._zygote = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=zygote_home,
            env=env,
            process_group=0,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._stop_processes()
        if self._reader is not None:
            self._reader.join(timeout=5)
        shutil.rmtree(self._root, ignore_errors=True)

    def _stop_processes(self) -> None:
        if self._zygote is not None and not self._ready.is_set():
            _kill(self._zygote)  # still importing kpops, nothing rendered: waiting for it to finish is pointless
        for process in (self._zygote, self._helm):
            if process is None:
                continue
            if process.stdin:
                process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill(process)
                process.wait()
            if process.stdout:
                process.stdout.close()
        self._zygote = self._helm = None

    def submit(self, request: RenderRequest) -> Future[PipelineRender]:
        return self._executor.submit(self.render, request)

    def rest(self) -> None:
        """A started pool is its owner's to close."""

    def render_all(self, requests: Sequence[RenderRequest]) -> list[PipelineRender]:
        """Render every request, in parallel; results in the order of the requests."""
        return [future.result() for future in [self.submit(request) for request in requests]]

    def render(self, request: RenderRequest) -> PipelineRender:
        """Render one pipeline in a fresh process; failures come back as results with an error."""
        start = time.perf_counter()
        result = self._render(request)
        error = result.error
        metrics.render_duration.labels(error.kind.value if error else "rendered").observe(time.perf_counter() - start)
        if error is not None and error.kind in _SANDBOX_ENDED:
            metrics.sandbox_failures.labels(error.kind.value).inc()
        return result

    def _render(self, request: RenderRequest) -> PipelineRender:
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self._root / "jobs"))
        helm_dir = self._root / "helm" / job_dir.name
        try:
            checkout = request.checkout.resolve()
            if self.sandbox.layer is Layer.NAMESPACES and not any(checkout.is_relative_to(r) for r in self._checkouts):
                message = f"{request.pipeline_file}: the checkout {checkout} is outside the sandbox's checkout folders"
                return self._failed(request, message, ErrorKind.CRASH)
            if self.sandbox.runs_as_other_uid:
                self._open_once(checkout)  # the render's uid reads it; it never writes it
            job = self._job(request, job_dir, helm_dir)
            answer = self._run(job)
            return self._result(request, job, answer)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
            shutil.rmtree(helm_dir, ignore_errors=True)

    def _open_once(self, checkout: Path) -> None:
        """`open_to_renders` of a checkout its first render, not every render: walking and changing the modes of
        the whole tree cost each render of a large repository more of the bot's CPU than all else it does for it.

        A checkout is known by its folder's inode and change time after it was opened: a folder made anew at
        the same path, or changed since, is opened again.
        """
        with self._opening:
            stamp = checkout.stat()
            if self._opened.get(checkout) == (stamp.st_ino, stamp.st_ctime_ns):
                return
            open_to_renders(checkout)
            stamp = checkout.stat()
            if len(self._opened) >= _OPENED_KEPT:
                self._opened = {path: kept for path, kept in self._opened.items() if path.exists()}
            self._opened[checkout] = (stamp.st_ino, stamp.st_ctime_ns)

    def _job(self, request: RenderRequest, job_dir: Path, helm_dir: Path) -> RenderJob:
        env = self._process_env()
        home = job_dir / "home"
        tmp = job_dir / "tmp"
        for folder in (home, tmp):
            folder.mkdir()
        helm_env = {
            "HOME": str(home),
            "HELM_CONFIG_HOME": str(helm_dir / "config"),
            "HELM_CACHE_HOME": str(helm_dir / "cache"),
            "HELM_DATA_HOME": str(helm_dir / "data"),
            "HELM_REPOSITORY_CONFIG": str(helm_dir / "config" / "repositories.yaml"),
            "HELM_REPOSITORY_CACHE": str(helm_dir / "cache" / "repository"),
        }
        env.update(HOME=str(home), TMPDIR=str(tmp))
        settings = self._settings
        limits = RenderLimits(
            memory_bytes=settings.render_memory_mb * 1024 * 1024,
            processes=settings.render_processes,
            file_size_bytes=settings.render_file_size_mb * 1024 * 1024,
            cpu_seconds=max(1, int(settings.render_timeout) + 1),
        )
        if self._helm is None:
            env.update(helm_env)  # a helm binary runs inside the render, with folders of its own
        else:
            env.pop(CHART_CACHE_ENV, None)
            helm_env |= {name: env.pop(name) for name in (MIRRORS_ENV,) if name in env}
            helm_env[CHART_CACHE_ENV] = str(self.chart_cache)
            grant = helm_service.Grant(
                env=helm_env,
                files=[str(request.checkout.resolve()), str(job_dir)],
                charts=[str(request.checkout.resolve())],
                cwd=str(request.checkout.resolve()),
                repositories=list(settings.chart_repositories),
                memory_bytes=limits.memory_bytes,
                cpu_seconds=limits.cpu_seconds,
            )
            env[helm_service.HELM_GRANT_ENV] = grant.sign(self._helm_key)
        return RenderJob(
            pipeline=request.pipeline,
            pipeline_file=request.pipeline_file,
            revision=request.revision,
            checkout=str(request.checkout),
            config_dir=request.config_dir,
            environment=request.environment,
            mode=request.mode,
            operation=request.operation,
            env=env,
            scratch=str(job_dir),
            log_file=str(job_dir / "kpops.log"),
            timeout=self._settings.render_timeout,
            limits=limits,
        )

    @property
    def _socket(self) -> Path:
        return self._root / "helm.sock"  # short: a socket's path has at most 107 bytes

    def _zygote_config(self, layer: Layer) -> ZygoteConfig:
        if layer is Layer.OFF:
            return ZygoteConfig(result_limit=_RESULT_LIMIT)
        return ZygoteConfig.confined(
            namespaces=layer is Layer.NAMESPACES,
            sandbox_uid=self._settings.sandbox_uid,
            hide=[*map(str, self._checkouts), str(self._root)],
            python=[str(path) for path in [*python_paths(), *(self._kpops.paths() if self._kpops else [])]],
            result_limit=_RESULT_LIMIT,
        )

    def _process_env(self) -> dict[str, str]:
        """The environment every process of the pool starts from: explicit, nothing inherited by accident."""
        env = self._settings.kpops_environment()
        if self._settings.chart_mirrors:
            env[MIRRORS_ENV] = self._settings.mirrors().to_json()
        self.chart_cache.mkdir(exist_ok=True)
        env[CHART_CACHE_ENV] = str(self.chart_cache)
        if self._helm is not None:
            inside = self._sandbox is not None and self._sandbox.layer is Layer.NAMESPACES
            env[helm_service.HELM_SOCKET_ENV] = _SOCKET_INSIDE if inside else str(self._socket)
        return env

    def _run(self, job: RenderJob) -> dict[str, object]:
        if self._sandbox is None:  # the probe has not confirmed the layer the fork server runs in
            msg = "the render pool has not started"
            raise PoolClosedError(msg)
        if self._zygote is None or self._zygote.stdin is None or self._zygote.poll() is not None:
            msg = "the render fork server is not running"
            raise PoolClosedError(msg)
        request_id = next(self._ids)
        answer: Future[dict[str, object]] = Future()
        with self._lock:
            if self._stopped:
                msg = "the render fork server is not running"
                raise PoolClosedError(msg)
            self._waiting[request_id] = answer
            self._zygote.stdin.write(json.dumps({"id": request_id, "job": job.model_dump(mode="json")}).encode())
            self._zygote.stdin.write(b"\n")
            self._zygote.stdin.flush()
        return answer.result()

    def _read_answers(self) -> None:
        assert self._zygote is not None and self._zygote.stdout is not None
        stdout = self._zygote.stdout
        try:
            ready = json.loads(stdout.readline() or b"{}").get("ready") is True
        except ValueError:
            ready = False
        if ready:
            self._ready.set()
        self._first_line.set()
        if ready:
            for line in stdout:
                message = json.loads(line)
                with self._lock:
                    waiting = self._waiting.pop(int(message["id"]), None)
                if waiting is not None:
                    waiting.set_result(message)
        why = "stopped" if self._ready.is_set() else "did not start"
        with self._lock:
            self._stopped = True
            orphans, self._waiting = list(self._waiting.values()), {}
        for orphan in orphans:
            orphan.set_exception(PoolClosedError(f"the render fork server {why}"))

    def _result(self, request: RenderRequest, job: RenderJob, answer: dict[str, object]) -> PipelineRender:
        """The render's result once checked (size, shape, that it is this job's), else an error naming why."""
        text = answer.get("result")
        if answer.get("exit_code") == 0 and isinstance(text, str) and text:
            try:
                result = PipelineRender.model_validate_json(text)
            except ValidationError:
                return self._failed(
                    request, f"{request.pipeline_file}: the render returned a malformed result", ErrorKind.CRASH
                )
            if result.model_dump(include=_IDENTITY) == job.empty_result().model_dump(include=_IDENTITY):
                return result.model_copy(update={"kpops_version": self.kpops_version})
            return self._failed(
                request, f"{request.pipeline_file}: the render returned another job's result", ErrorKind.CRASH
            )
        if answer.get("too_large"):
            limit = _RESULT_LIMIT // (1024 * 1024)
            return self._failed(
                request, f"{request.pipeline_file}: the render's result is over {limit} MiB", ErrorKind.LIMIT
            )
        code = answer.get("exit_code")
        signal = code - 128 if isinstance(code, int) and code > 128 else answer.get("signal")
        settings = self._settings
        if answer.get("timed_out"):
            message = f"{request.pipeline_file}: kpops did not finish within {settings.render_timeout:g} s"
            kind = ErrorKind.TIMEOUT
        elif code == MEMORY_EXHAUSTED:
            message = (
                f"{request.pipeline_file}: the render exceeded its memory limit of {settings.render_memory_mb} MiB"
            )
            kind = ErrorKind.LIMIT
        elif signal == _SIGXCPU:
            message = f"{request.pipeline_file}: the render exceeded its CPU time limit"
            kind = ErrorKind.LIMIT
        elif signal == _SIGXFSZ:
            message = f"{request.pipeline_file}: the render wrote a file over {settings.render_file_size_mb} MiB"
            kind = ErrorKind.LIMIT
        else:
            how = f"signal {signal}" if signal else f"exit code {code}"
            message = f"{request.pipeline_file}: the render process ended with {how}"
            kind = ErrorKind.CRASH
        return self._failed(request, message, kind)

    def _failed(self, request: RenderRequest, message: str, kind: ErrorKind) -> PipelineRender:
        return PipelineRender(
            kpops_version=self.kpops_version,
            name=request.pipeline,
            pipeline_file=request.pipeline_file,
            revision=request.revision,
            environment=request.environment,
            mode=request.mode,
            operation=request.operation,
            error=RenderError(message=message, kind=kind, file=request.pipeline_file),
        )


def _bot_source_only(folder: Path) -> Path:
    """A folder holding only the bot's package, for the `sys.path` of another environment's interpreter.

    The bot's own site-packages must not be on it: that environment has its own kpops, pydantic and PyYAML.
    """
    path = folder / "bot-source"
    path.mkdir(exist_ok=True)
    (path / "kpops_bot").symlink_to(Path(kpops_bot.__file__).resolve().parent)
    return path


_IDENTITY = {"name", "pipeline_file", "revision", "environment", "mode", "operation"}


def _kill(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """End a process and, where it leads a group of its own (the fork server), everything in that group."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
            return
    except ProcessLookupError:
        return
    process.kill()
