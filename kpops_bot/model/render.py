"""What the engine is asked to render and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from kpops_bot.model.kinds import Mode, Operation

__all__ = ["ComponentRender", "ErrorKind", "Mode", "Operation", "PipelineRender", "RenderError", "RenderSpec"]


@dataclass(frozen=True)
class RenderSpec:
    """What to render, apart from where."""

    environment: str | None = None
    mode: Mode = Mode.MANIFEST
    operation: Operation = Operation.DEPLOY
    config_dir: str = "."


class ErrorKind(StrEnum):
    """What kind of failure a render met; timeouts, limits and crashes depend on the machine, never cached."""

    YAML = "yaml"
    VALIDATION = "validation"
    COMPONENT_TYPE = "component-type"
    HELM = "helm"
    CONFIG = "config"
    TIMEOUT = "timeout"
    LIMIT = "limit"  # over a memory, CPU time, file size or result size limit of the sandbox
    CRASH = "crash"
    KPOPS = "kpops"
    UNSUPPORTED = "unsupported"  # the repository's kpops release cannot render this mode or operation


class RenderError(BaseModel):
    """Why a pipeline did not render, in words a person can act on."""

    message: str = Field(description="One line: the file, the component and kpops' cause.")
    kind: ErrorKind
    file: str | None = None
    line: int | None = None
    component: str | None = None


class ComponentRender(BaseModel):
    name: str
    type: str
    config: dict[str, Any] = Field(description="The enriched component, as `kpops generate` prints it.")
    manifests: list[dict[str, Any]] = Field(default_factory=list)


class RenderReads(BaseModel):
    """What a render read inside its checkout, as reported by the render process (see `engine/reads.py`).

    Paths are relative to the repository root. `unobserved` names what the render did that the bot cannot see
    into (a process it started, a chart outside the repository): such a render is never cached.
    """

    files: list[str] = Field(default_factory=list, description="Files opened.")
    folders: list[str] = Field(default_factory=list, description="Folders listed (their entries matter).")
    trees: list[str] = Field(default_factory=list, description="Folders read as a whole (local Helm charts).")
    unobserved: list[str] = Field(default_factory=list, description="Reads the bot cannot account for.")


class PipelineRender(BaseModel):
    name: str
    pipeline_file: str = Field(description="Path of its pipeline.yaml relative to the repository root.")
    revision: str
    environment: str | None
    mode: Mode
    operation: Operation
    error: RenderError | None = None
    components: list[ComponentRender] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    kpops_version: str | None = Field(default=None, description="The kpops release that rendered it.")
    reads: RenderReads | None = Field(
        default=None, exclude=True, description="Repository files the render read; for the render cache only."
    )
    # What the bot derived from this render alone, by name (engine/cache.py `RenderFacts`). Private: never read
    # from a render process's answer, only set in the bot's process.
    _facts: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def fact(self, name: str) -> Any:
        """The facts of that name derived from this render, or None."""
        return self._facts.get(name)

    def with_fact(self, name: str, value: Any) -> None:
        self._facts[name] = value


class RenderLimits(BaseModel):
    """What one render may use; over a limit, the kernel refuses (memory, processes, file size) or kills (CPU)."""

    memory_bytes: int
    processes: int
    file_size_bytes: int
    cpu_seconds: int


class RenderJob(BaseModel):
    """One render as the fork server receives it: everything the child needs, nothing from the parent."""

    pipeline: str
    pipeline_file: str = Field(description="Path of pipeline.yaml relative to the checkout root.")
    revision: str
    checkout: str
    config_dir: str = "."
    environment: str | None = None
    mode: Mode = Mode.MANIFEST
    operation: Operation = Operation.DEPLOY
    env: dict[str, str] = Field(description="The complete environment of the kpops process.")
    scratch: str = Field(description="The render's own folder (HOME, TMPDIR, log): the one place it may write.")
    log_file: str
    timeout: float
    limits: RenderLimits

    def empty_result(self, error: RenderError | None = None) -> PipelineRender:
        """The result of this job before any component has rendered."""
        return PipelineRender(
            name=self.pipeline,
            pipeline_file=self.pipeline_file,
            revision=self.revision,
            environment=self.environment,
            mode=self.mode,
            operation=self.operation,
            error=error,
        )
