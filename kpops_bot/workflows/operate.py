"""What deploy, reset, clean and destroy do in each operation mode; shared by comment commands and applies.

managed: kpops runs the operation against the cluster (`--execute`, or kpops' own dry run).
manifest / argo: the operation is rendered and becomes folder writes for the GitOps target; a destroy removes the
pipeline's folder. Nothing here talks to the forge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import yaml

from kpops_bot.engine import RenderCache
from kpops_bot.engine.model import Operation, PipelineRender, RenderSpec
from kpops_bot.engine.targets import Renderer, RenderTarget, layout_at, render_targets
from kpops_bot.gitops.layout import (
    PipelineWrite,
    deploy_write,
    dump,
    one_off_jobs_write,
    pipeline_folder,
    removal,
)
from kpops_bot.managed import Isolation, KpopsRun, run_kpops
from kpops_bot.masking import Masker
from kpops_bot.pipelines import Pipeline, RepoLayout
from kpops_bot.report.answers import StepLine
from kpops_bot.report.escape import code, composed, fenced
from kpops_bot.settings import BotSettings, OperationMode
from kpops_bot.workspace import CachedRepository


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

    def line(self) -> StepLine:
        """The result as the answer's table shows it."""
        step = self.step
        return StepLine(
            self.ok, step.pipeline.name, step.environment, step.operation, step.commit, self.summary, self.detail
        )


class Operator:
    def __init__(
        self,
        settings: BotSettings,
        pool: Callable[[], Renderer],
        cache: RenderCache | None,
        repository: CachedRepository,
        mode: OperationMode,
        config_dir: str,
        masker: Masker,
        isolation: Isolation,
    ) -> None:
        self._settings = settings
        self._isolation = isolation
        self._pool = pool
        self._cache = cache
        self._repository = repository
        self._mode = mode
        self._config_dir = config_dir
        self._masker = masker

    def run(self, steps: Sequence[Step], run_id: str, *, execute: bool = True) -> list[StepResult]:
        """Every step's result, in order. `run_id` names one-off jobs; `execute=False` only shows."""
        if self._mode is OperationMode.MANAGED:
            return [self._managed(step, execute) for step in steps]
        rendered = self._render([step for step in steps if step.operation is not Operation.DESTROY])
        results: list[StepResult] = []
        for step in steps:
            if step.operation is Operation.DESTROY:
                folder = self._folder(step)
                results.append(
                    StepResult(step, True, f"{code(folder + '/')} removed", write=removal(folder, step.commit))
                )
            else:
                results.append(self._manifest_result(step, rendered[step], run_id))
        return results

    def _folder(self, step: Step) -> str:
        return pipeline_folder(self._settings.gitops.path, step.environment, step.pipeline.name)

    def _managed(self, step: Step, execute: bool) -> StepResult:
        settings = self._settings
        run = KpopsRun(
            step.operation, step.pipeline.pipeline_file, self._config_dir, step.environment, step.steps, execute
        )
        with self._repository.checkout(step.commit) as root:
            outcome = run_kpops(
                root,
                run,
                settings.managed,
                settings.engine().kpops_environment(),
                self._masker,
                self._isolation,
            )
        if outcome.returncode is None:
            summary = "kpops timed out"
        else:
            summary = "done" if outcome.ok else f"kpops failed (exit code {outcome.returncode})"
        detail = fenced(f"$ {outcome.command}\n{outcome.output}", "console")
        return StepResult(step, outcome.ok, summary, detail)

    def _render(self, steps: Sequence[Step]) -> dict[Step, PipelineRender]:
        mode = self._mode.render_mode
        layouts: dict[tuple[str, RenderSpec], RepoLayout] = {}
        targets: list[RenderTarget] = []
        for step in steps:
            spec = RenderSpec(step.environment, mode, step.operation, self._config_dir)
            if (step.commit, spec) not in layouts:
                layouts[(step.commit, spec)] = layout_at(self._repository, step.commit, spec)
            targets.append(RenderTarget(step.commit, step.pipeline, spec, layouts[(step.commit, spec)]))
        renders = render_targets(self._repository, self._pool(), targets, self._cache)
        return dict(zip(steps, renders, strict=True))

    def _manifest_result(self, step: Step, render: PipelineRender, run_id: str) -> StepResult:
        if render.error is not None:
            return StepResult(step, False, code(self._masker.mask_text(render.error.message)))
        names = [component.name for component in render.components]
        unknown = [name for name in step.steps if name not in names]
        if unknown:
            listing = ", ".join(code(name) for name in names)
            shown = ", ".join(code(name) for name in unknown)
            return StepResult(step, False, f"unknown step(s) {shown}; the steps are {listing}")
        folder = self._folder(step)
        if step.operation is Operation.DEPLOY:
            write = deploy_write(folder, render, step.steps)
            files = write.resources or {}
            return StepResult(
                step, True, f"{len(files)} manifest(s) in {code(folder + '/')}", self._listing(files), write
            )
        write = one_off_jobs_write(folder, render, run_id, step.steps)
        notes = " ".join(self._masker.mask_text(note) for note in render.notes)  # a cell's text: composed there
        if not write.jobs:
            summary = f"kpops {step.operation} renders no job for this pipeline"
            return StepResult(step, True, f"{summary}. {notes}" if notes else summary)
        listing = self._listing(write.jobs)
        detail = f"> {composed(notes)}\n\n{listing}" if notes else listing
        return StepResult(step, True, f"{len(write.jobs)} job(s) in {code(folder + '/jobs/')}", detail, write)

    def _listing(self, files: Mapping[str, str]) -> str:
        """The files as a person reviews them: masked, each under its name."""
        return "\n".join(
            f"{code(name)}\n{fenced(dump(self._masker.mask_resource(yaml.safe_load(text))), 'yaml')}"
            for name, text in sorted(files.items())
        )
