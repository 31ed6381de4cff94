"""What deploy, reset, clean and destroy do in each operation mode; shared by comment commands and applies.

managed: kpops runs the operation against the cluster (`--execute`, or kpops' own dry run).
manifest / argo: the operation is rendered and becomes folder writes for the GitOps target; a destroy removes the
pipeline's folder. Nothing here talks to the forge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import yaml

from kpops_bot.connectors import (
    KAFKA_CONNECTOR,
    ConnectorPolicy,
    applied,
    destroy_leaves,
    is_connector,
    kubernetes_name_problem,
    literal_secrets,
    offsets_reset,
    offsets_reset_note,
    refused_literal_secrets,
    with_connectors,
)
from kpops_bot.diff.manifest_schemas import violations
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.targets import Renderer, RenderTarget, layout_at, render_targets
from kpops_bot.escape import code, composed, fenced
from kpops_bot.gitops.layout import (
    deploy_write,
    dump,
    one_off_jobs_write,
    pipeline_folder,
    removal,
)
from kpops_bot.managed import Isolation, KpopsRun, run_kpops
from kpops_bot.masking import Masker
from kpops_bot.model.render import ComponentRender, Operation, PipelineRender, RenderSpec
from kpops_bot.pipelines import RepoLayout
from kpops_bot.settings import BotSettings, OperationMode
from kpops_bot.workflows.steps import Step, StepResult
from kpops_bot.workspace import CachedRepository


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
        connectors: ConnectorPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._connectors = connectors or ConnectorPolicy()
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
                write = removal(folder, step.commit)
                results.append(
                    StepResult(step, True, f"{code(folder + '/')} removed", write=write, not_applied=self._kept(step))
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
        setup = self._connectors.for_environment(step.environment)
        chosen = [c for c in render.components if not step.steps or c.name in step.steps]
        not_applied = tuple(
            self._masker.mask_text(reason)
            for component in chosen
            if (reason := applied(component, step.operation, self._mode.render_mode, setup).reason) is not None
        )
        folder = self._folder(step)
        if step.operation is Operation.DEPLOY:
            literal = [(c.name, key) for c in chosen if setup.strimzi for key in literal_secrets(c, self._masker)]
            if literal:
                refused = composed(self._masker.mask_text(refused_literal_secrets(literal)))
                return StepResult(step, False, refused, not_applied=not_applied)
            deployed = with_connectors(render, setup, self._masker)
            invalid = self._invalid_connectors(deployed, chosen)
            if invalid:
                return StepResult(step, False, invalid, not_applied=not_applied)
            write = deploy_write(folder, deployed, step.steps)
            files = write.resources or {}
            summary = f"{len(files)} manifest(s) in {code(folder + '/')}"
            return StepResult(step, True, summary, self._listing(files), write, not_applied)
        connectors = [c for c in chosen if setup.strimzi and is_connector(c)]
        problems = [problem for c in connectors if (problem := kubernetes_name_problem(c)) is not None]
        if problems:
            refused = composed(self._masker.mask_text(f"refused: {'; '.join(problems)}; nothing committed"))
            return StepResult(step, False, refused)
        resets = [resource for c in connectors for resource in offsets_reset(c, setup, run_id)]
        write = one_off_jobs_write(folder, render, run_id, step.steps, resets)
        said = [*render.notes, *(offsets_reset_note(c, run_id) for c in connectors)]
        notes = " ".join(self._masker.mask_text(note) for note in said)  # a cell's text: composed there
        if not write.jobs:
            summary = f"kpops {step.operation} renders no job for this pipeline"
            return StepResult(step, True, f"{summary}. {notes}" if notes else summary, not_applied=not_applied)
        listing = self._listing(write.jobs)
        detail = f"> {composed(notes)}\n\n{listing}" if notes else listing
        jobs = sum(name.startswith("job-") for name in write.jobs)
        return StepResult(step, True, f"{jobs} job(s) in {code(folder + '/jobs/')}", detail, write, not_applied)

    def _invalid_connectors(self, deployed: PipelineRender, chosen: Sequence[ComponentRender]) -> str | None:
        """Why a KafkaConnector the bot made would be refused by the API server (Strimzi's CRD), or None. Flux
        applies a folder as a whole: one refused resource would hold back the pipeline's every change."""
        names = {component.name for component in chosen}
        problems = [
            violation.describe()
            for component in deployed.components
            if component.name in names and is_connector(component)
            for manifest in component.manifests
            if manifest.get("kind") == KAFKA_CONNECTOR
            for violation in violations(manifest)
        ]
        if not problems:
            return None
        return composed(
            self._masker.mask_text(f"refused: {'; '.join(problems)}; nothing of this pipeline was committed")
        )

    def _kept(self, step: Step) -> tuple[str, ...]:
        """What a destroy's folder removal leaves running: without KafkaConnectors, the pipeline's connectors."""
        reason = destroy_leaves(
            step.pipeline.name, self._mode.render_mode, self._connectors.for_environment(step.environment)
        )
        return () if reason is None else (self._masker.mask_text(reason),)

    def _listing(self, files: Mapping[str, str]) -> str:
        """The files as a person reviews them: masked, each under its name."""
        return "\n".join(
            f"{code(name)}\n{fenced(dump(self._masker.mask_resource(yaml.safe_load(text))), 'yaml')}"
            for name, text in sorted(files.items())
        )
