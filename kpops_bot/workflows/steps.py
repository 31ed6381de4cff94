"""A command's or an apply's unit of work and its outcome: one operation on one pipeline in one environment. Plain
values: the deployment repository (`kpops_bot.adapters`) plans and runs them, the workflows answer with them."""

from __future__ import annotations

from dataclasses import dataclass

from kpops_bot.gitops.layout import PipelineWrite
from kpops_bot.model.render import Operation
from kpops_bot.pipelines import Pipeline
from kpops_bot.report.answers import StepLine


@dataclass(frozen=True)
class Step:
    """One operation on one pipeline in one environment, as defined at one commit."""

    operation: Operation
    pipeline: Pipeline
    environment: str | None
    commit: str
    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepResult:
    step: Step
    ok: bool
    summary: str  # one line, masked
    detail: str = ""  # kpops' output or the manifests, masked
    write: PipelineWrite | None = None  # manifest / argo: what the GitOps target gets
    not_applied: tuple[str, ...] = ()  # per component the mode does not put into effect: why (connectors.applied)

    def line(self) -> StepLine:
        """The result as the answer's table shows it."""
        step = self.step
        return StepLine(
            self.ok,
            step.pipeline.name,
            step.environment,
            step.operation,
            step.commit,
            self.summary,
            self.detail,
            self.not_applied,
        )
