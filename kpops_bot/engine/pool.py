"""Runs renders in parallel through the fork server, each in its own directory and environment.

The pool owns two long-lived processes: the fork server (kpops imported, forks a child per render) and, where
no helm binary is on PATH, the helm service (Helm's Go library loaded once). Each render gets a directory with
its own HOME, TMPDIR and Helm repository config and cache, removed when its result has been read.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from kpops_bot.engine.model import ErrorKind, Mode, Operation, PipelineRender, RenderError, RenderJob
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.helm import service as helm_service
from kpops_bot.helm.mirrors import MIRRORS_ENV
from kpops_bot.helm.repositories import CHART_CACHE_ENV


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


class PoolClosedError(RuntimeError):
    """The fork server is gone; renders cannot be run."""


class RenderPool:
    """Render pipelines, `settings.workers` at a time. Use as a context manager."""

    def __init__(self, settings: EngineSettings) -> None:
        self._settings = settings
        self._root = Path(tempfile.mkdtemp(prefix="kpops-bot-render-", dir=settings.work_dir_or_none()))
        self._ids = itertools.count(1)
        self._waiting: dict[int, Future[dict[str, object]]] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="render")
        self._helm: subprocess.Popen[str] | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

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
    def uses_builtin_helm(self) -> bool:
        return self._helm is not None

    def start(self) -> None:
        base_env = self._process_env()
        if self._settings.needs_builtin_helm(base_env["PATH"]):
            self._helm = helm_service.start(str(self._root / "helm.sock"), base_env)
        zygote_home = self._root / "zygote"
        zygote_home.mkdir()
        self._zygote = subprocess.Popen(
            [sys.executable, "-m", "kpops_bot.engine.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=zygote_home,
            env={**base_env, "HOME": str(zygote_home), "TMPDIR": str(zygote_home)},
        )
        assert self._zygote.stdout is not None
        if json.loads(self._zygote.stdout.readline() or b"{}").get("ready") is not True:
            self.close()
            msg = "the render fork server did not start"
            raise PoolClosedError(msg)
        self._reader = threading.Thread(target=self._read_answers, name="render-answers", daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        for process in (self._zygote, self._helm):
            if process is None:
                continue
            if process.stdin:
                process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
        shutil.rmtree(self._root, ignore_errors=True)

    def submit(self, request: RenderRequest) -> Future[PipelineRender]:
        return self._executor.submit(self.render, request)

    def render_all(self, requests: Sequence[RenderRequest]) -> list[PipelineRender]:
        """Render every request, in parallel; results in the order of the requests."""
        return [future.result() for future in [self.submit(request) for request in requests]]

    def render(self, request: RenderRequest) -> PipelineRender:
        """Render one pipeline in a fresh process; failures come back as results with an error."""
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self._root))
        try:
            job = self._job(request, job_dir)
            answer = self._run(job)
            return self._result(request, job, answer)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)

    def _job(self, request: RenderRequest, job_dir: Path) -> RenderJob:
        env = self._process_env()
        home = job_dir / "home"
        tmp = job_dir / "tmp"
        for folder in (home, tmp):
            folder.mkdir()
        env.update(
            HOME=str(home),
            TMPDIR=str(tmp),
            HELM_CONFIG_HOME=str(job_dir / "helm" / "config"),
            HELM_CACHE_HOME=str(job_dir / "helm" / "cache"),
            HELM_DATA_HOME=str(job_dir / "helm" / "data"),
            HELM_REPOSITORY_CONFIG=str(job_dir / "helm" / "config" / "repositories.yaml"),
            HELM_REPOSITORY_CACHE=str(job_dir / "helm" / "cache" / "repository"),
        )
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
            result_file=str(job_dir / "result.json"),
            log_file=str(job_dir / "kpops.log"),
            timeout=self._settings.render_timeout,
        )

    def _process_env(self) -> dict[str, str]:
        """The environment every process of the pool starts from: explicit, nothing inherited by accident."""
        env = self._settings.kpops_environment()
        if self._settings.chart_mirrors:
            env[MIRRORS_ENV] = self._settings.mirrors().to_json()
        chart_cache = self._root / "charts"
        chart_cache.mkdir(exist_ok=True)
        env[CHART_CACHE_ENV] = str(chart_cache)
        if self._helm is not None:
            env[helm_service.HELM_SOCKET_ENV] = str(self._root / "helm.sock")
        return env

    def _run(self, job: RenderJob) -> dict[str, object]:
        if self._zygote is None or self._zygote.stdin is None or self._zygote.poll() is not None:
            msg = "the render fork server is not running"
            raise PoolClosedError(msg)
        request_id = next(self._ids)
        answer: Future[dict[str, object]] = Future()
        with self._lock:
            self._waiting[request_id] = answer
            self._zygote.stdin.write(json.dumps({"id": request_id, "job": job.model_dump(mode="json")}).encode())
            self._zygote.stdin.write(b"\n")
            self._zygote.stdin.flush()
        return answer.result()

    def _read_answers(self) -> None:
        assert self._zygote is not None and self._zygote.stdout is not None
        for line in self._zygote.stdout:
            message = json.loads(line)
            with self._lock:
                waiting = self._waiting.pop(int(message["id"]), None)
            if waiting is not None:
                waiting.set_result(message)
        with self._lock:
            orphans, self._waiting = list(self._waiting.values()), {}
        for orphan in orphans:
            orphan.set_exception(PoolClosedError("the render fork server stopped"))

    def _result(self, request: RenderRequest, job: RenderJob, answer: dict[str, object]) -> PipelineRender:
        result_file = Path(job.result_file)
        if answer.get("exit_code") == 0 and result_file.is_file():
            try:
                return PipelineRender.model_validate_json(result_file.read_text(encoding="utf-8"))
            except ValidationError:
                pass
        if answer.get("timed_out"):
            message = f"{request.pipeline_file}: kpops did not finish within {self._settings.render_timeout:g} s"
            kind = ErrorKind.TIMEOUT
        else:
            how = f"signal {answer['signal']}" if answer.get("signal") else f"exit code {answer.get('exit_code')}"
            message = f"{request.pipeline_file}: the render process ended with {how}"
            kind = ErrorKind.CRASH
        return job.empty_result(RenderError(message=message, kind=kind, file=request.pipeline_file))
