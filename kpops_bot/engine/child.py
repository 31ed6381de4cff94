"""The body of one render process: forked from the fork server, it renders one pipeline and exits.

kpops keeps global state between calls (a config singleton, a YAML cache keyed by path, a Helm singleton,
imported custom components, `sys.path`), so a process renders exactly one pipeline. The fork server has
imported kpops and touched none of that state; this process makes itself the render's process (cwd, the
explicit environment, TMPDIR, helm calls routed to the helm service) before it calls kpops. Its result goes
into the pipe the fork server gave it, never into a file.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpops_bot.engine.dialect import HELM_3_VERSION, Dialect
from kpops_bot.engine.errors import FailureContext, describe_failure
from kpops_bot.engine.reads import ReadRecorder
from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors
from kpops_bot.helm.outcome import CPU_EXCEEDED, MEMORY_EXCEEDED
from kpops_bot.helm.service import HELM_GRANT_ENV, HELM_SOCKET_ENV, call
from kpops_bot.model.render import (
    ComponentRender,
    ErrorKind,
    Mode,
    Operation,
    PipelineRender,
    RenderError,
    RenderJob,
)
from kpops_bot.pipelines import RepoLayout

ARGO_CLEAN_NOTE = (
    "In argo mode kpops renders no separate cleanup jobs: they are part of deploy, as Argo CD PostDelete hooks."
)


MEMORY_EXHAUSTED = 75  # the exit code of a render that ran out of memory before it could say so


def run(job: RenderJob, zygote_path_entry: str, result_fd: int) -> int:
    """Render `job` in this forked process and write its result into `result_fd`; returns the exit code."""
    try:
        _become_render_process(job, zygote_path_entry)
        result = render(job)
        payload = {**result.model_dump(mode="json"), "reads": _recorded_reads()}
        _write_result(result_fd, json.dumps(payload).encode())
    except MemoryError:
        return MEMORY_EXHAUSTED
    except BaseException:
        traceback.print_exc()  # into the job's log, which is never shown to users
        return 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _become_render_process(job: RenderJob, zygote_path_entry: str) -> None:
    os.chdir(job.checkout)
    os.environ.clear()
    os.environ.update(job.env)
    tempfile.tempdir = None
    # kpops appends the cwd to sys.path when it is imported, which happened in the fork server.
    if zygote_path_entry in sys.path:
        sys.path.remove(zygote_path_entry)
    sys.path.append(str(Path.cwd()))
    _record_reads(Path.cwd())
    _route_helm_commands(
        job.env.get(HELM_SOCKET_ENV),
        job.env.get(HELM_GRANT_ENV, ""),
        ChartMirrors.from_json(job.env.get(MIRRORS_ENV, "")),
    )


class _HelmCommands:
    """Stands in for the `subprocess` module inside kpops' Helm wrapper.

    With the built-in helm, commands go to the helm service. With a helm binary they run as kpops would run
    them, except that `helm repo add` gets the mirrored URL.
    """

    def __init__(self, socket_path: str | None, grant: str, mirrors: ChartMirrors, dialect: Dialect) -> None:
        self._socket_path = socket_path
        self._grant = grant
        self._mirrors = mirrors
        self._dialect = dialect

    def run(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if not command or command[0] != "helm":
            return subprocess.run(command, **kwargs)  # noqa: PLW1510 -- the caller's own check flag is in kwargs
        command = _RECORDER.helm_command(command) if _RECORDER else command
        try:
            return self._run_helm(command, **kwargs)
        finally:
            if _RECORDER:
                _RECORDER.helm_done()

    def _run_helm(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if self._socket_path is None:
            return subprocess.run(self._mirrored(command), **kwargs)  # noqa: PLW1510
        if command[1:] == ["version", "--short"] and self._dialect.accepts_only_helm_3:
            return subprocess.CompletedProcess(command, 0, f"{HELM_3_VERSION}\n", "")
        outcome = call(self._socket_path, command[1:], self._grant)
        if outcome.returncode == MEMORY_EXCEEDED:
            raise MemoryError(outcome.stderr)  # the render's templates went over the render's own budget
        if outcome.returncode == CPU_EXCEEDED:
            os.kill(os.getpid(), signal.SIGXCPU)  # as if the render had spent that time itself, which it did
        return subprocess.CompletedProcess(command, outcome.returncode, outcome.stdout, outcome.stderr)

    def _mirrored(self, command: list[str]) -> list[str]:
        if command[1:3] != ["repo", "add"] or len(command) < 5:
            return command
        return [*command[:4], self._mirrors.apply(command[3], command[4]), *command[5:]]


_RECORDER: ReadRecorder | None = None


def _record_reads(checkout: Path) -> None:
    """Start recording what the render reads in its checkout (for the render cache, see `engine/reads.py`)."""
    global _RECORDER  # noqa: PLW0603 -- one render per process
    _RECORDER = ReadRecorder(checkout)
    _RECORDER.install()


def _recorded_reads() -> dict[str, Any] | None:
    return _RECORDER.reads().model_dump() if _RECORDER else None


def _route_helm_commands(socket_path: str | None, grant: str, mirrors: ChartMirrors) -> None:
    dialect = kpops_dialect()
    helm = importlib.import_module(dialect.helm_module)
    helm.subprocess = _HelmCommands(socket_path, grant, mirrors, dialect)  # type: ignore[attr-defined]


def kpops_version() -> str:
    return importlib.metadata.version("kpops")


def kpops_dialect() -> Dialect:
    return Dialect.of(kpops_version())


def render(job: RenderJob) -> PipelineRender:
    """Render the job's pipeline in this process (which must be fresh: kpops' state is global)."""
    version = kpops_version()
    dialect = Dialect.of(version)
    result = job.empty_result()
    unsupported = dialect.cannot_render(version, job.mode, job.operation)
    if unsupported is not None:
        result.error = RenderError(message=f"{job.pipeline_file}: {unsupported}", kind=ErrorKind.UNSUPPORTED)
        return result
    try:
        pipeline = _generate(job, dialect)
    except Exception as error:
        _raise_if_out_of_memory(error)
        result.error = describe_failure(error, _failure_context(job))
        return result
    if job.mode is Mode.ARGO and job.operation is Operation.CLEAN:
        result.notes.append(ARGO_CLEAN_NOTE)
    for component in pipeline.components:
        rendered = ComponentRender(name=component.name, type=component.type, config=_config(component, dialect))
        result.components.append(rendered)
        if job.mode is Mode.ARGO and job.operation is Operation.CLEAN:
            continue
        try:
            manifests = _manifests(component, job.operation, dialect)
        except Exception as error:
            _raise_if_out_of_memory(error)
            result.error = describe_failure(error, _failure_context(job, component.name, component.type))
            return result
        rendered.manifests = manifests
    result.notes += reset_only_clean_notes(job, result)
    return result


def _generate(job: RenderJob, dialect: Dialect) -> Any:
    import kpops.api

    arguments: dict[str, Any] = {
        "pipeline_path": Path(job.pipeline_file),
        "config": Path(job.config_dir),
        "environment": job.environment,
    }
    if dialect.has_operation_modes:
        from kpops.core.operation import OperationMode

        arguments["operation_mode"] = OperationMode(job.mode.value)
    return kpops.api.generate(**arguments)


def _config(component: Any, dialect: Dialect) -> dict[str, Any]:
    """The enriched component as this release's `kpops generate` prints it."""
    if dialect.has_component_generate:
        return dict(component.generate())
    return dict(component.model_dump(mode="json", by_alias=True, exclude_none=True))


def _manifests(component: Any, operation: Operation, dialect: Dialect) -> list[dict[str, Any]]:
    """The component's manifests as JSON data: kpops 9+ per operation (models), kpops 8 its one code path (dicts)."""
    if not dialect.has_operation_modes:
        return [json.loads(json.dumps(dict(manifest))) for manifest in component.manifest()]
    manifests = getattr(component, f"manifest_{operation.value}")()
    return [manifest.model_dump(mode="json") for manifest in manifests]


def _raise_if_out_of_memory(error: BaseException) -> None:
    """A memory limit hit anywhere in the chain is the render's outcome, whatever kpops wrapped it in."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MemoryError):
            raise MemoryError from error
        seen = seen.__cause__ or seen.__context__


def reset_only_clean_notes(job: RenderJob, result: PipelineRender) -> list[str]:
    """kpops' manifest-mode `clean` renders a streams app's cleanup Job with `args: [reset]`: said once, here."""
    if job.mode is not Mode.MANIFEST or job.operation is not Operation.CLEAN:
        return []
    resetting = [
        component.name
        for component in result.components
        if any(_job_args(manifest) == ["reset"] for manifest in component.manifests)
    ]
    if not resetting:
        return []
    names = ", ".join(f"`{name}`" for name in resetting)
    return [
        f"kpops renders the clean Job of {names} with `args: [reset]`: it resets offsets and state, "
        "and deletes none of the app's topics."
    ]


def _job_args(manifest: dict[str, Any]) -> list[Any] | None:
    if manifest.get("kind") != "Job":
        return None
    containers = (((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return containers[0].get("args") if containers and isinstance(containers[0], dict) else None


def _failure_context(job: RenderJob, component: str | None = None, component_type: str | None = None) -> FailureContext:
    """Where a failed render was; built only on failure, since it lists the checkout's YAML files."""
    root = Path(job.checkout)
    files = [str(path.relative_to(root)) for path in root.rglob("*.yaml") if ".git" not in path.parts]
    layout = RepoLayout.of(files, _reader(root), job.config_dir, job.environment)
    pipeline = next((p for p in layout.pipelines.values() if p.pipeline_file == job.pipeline_file), None)
    candidates = layout.input_files(pipeline, job.environment) if pipeline else [*layout.config_files(job.environment)]
    return FailureContext(job.pipeline_file, candidates, _reader(root), component, component_type)


def _reader(root: Path) -> Callable[[str], str | None]:
    def read(path: str) -> str | None:
        try:
            return (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return read


def _write_result(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
