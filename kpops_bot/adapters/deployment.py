"""The deployment repository of a pull request or push, over its cached git mirror: what commands and applies
plan, run and publish. The real `DeploymentRepository`; the workflows see only that protocol."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from kpops_bot.adapters.operations import Operator
from kpops_bot.engine.affected import AffectedSide, affected_side, beyond_file_rules, reached_through_reads
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.targets import Renderer, layout_at, select_pipelines
from kpops_bot.fault_causes import raise_if_transient
from kpops_bot.gitops.layout import PipelineWrite
from kpops_bot.gitops.own_commits import Identity, Pushed
from kpops_bot.gitops.publish import publish
from kpops_bot.gitops.target import Published, Target
from kpops_bot.managed import Isolation
from kpops_bot.masking import Masker
from kpops_bot.model.forge import PullRequest
from kpops_bot.model.render import Operation, RenderSpec
from kpops_bot.repo_config import Effective
from kpops_bot.settings import BotSettings, OperationMode
from kpops_bot.workflows.steps import Step, StepResult
from kpops_bot.workspace import CachedRepository, WorkspaceError

logger = logging.getLogger(__name__)


class GitDeploymentRepository:
    def __init__(
        self,
        repository: CachedRepository,
        settings: BotSettings,
        pool: Callable[[bool], Renderer],  # trusted → the pool with or without secret variables
        cache: RenderCache | None,
        isolation: Isolation,  # managed-mode kpops' sandbox
    ) -> None:
        self._repository = repository
        self._settings = settings
        self._pool = pool
        self._cache = cache
        self._isolation = isolation

    def resolve(self, revision: str) -> str:
        return self._repository.resolve(revision)

    def command_steps(
        self,
        operation: Operation,
        pipelines: Sequence[str],
        environments: Sequence[str | None],
        pull: PullRequest,
        config: Effective,
        steps: tuple[str, ...] = (),
    ) -> list[Step]:
        repository = self._repository
        commit = repository.resolve(pull.head_sha if operation is Operation.DEPLOY else pull.base_ref)
        planned: list[Step] = []
        for environment in environments:
            spec = RenderSpec(environment, config.operation_mode.render_mode, operation, config.config_dir)
            if pipelines:
                chosen = select_pipelines(layout_at(repository, commit, spec), pipelines)
            else:  # deploy without names: what the pull request changes or adds
                base = repository.merge_base(repository.resolve(pull.base_ref), commit)
                chosen = self._affected(base, commit, repository.changed_paths(base, commit), spec).to_deploy()
            planned += [Step(operation, pipeline, environment, commit, steps) for pipeline in chosen]
        return planned

    def change_steps(self, before: str | None, commit: str, head_sha: str | None, config: Effective) -> list[Step]:
        repository = self._repository
        before = before or next(iter(repository.parents(commit)), None)
        if before is None:
            return []
        paths = set(repository.changed_paths(before, commit))
        fork = self._fork_point(before, head_sha, commit)
        if fork is not None and head_sha is not None:  # a rebase merge: the first parent only sees its last commit
            paths |= set(repository.changed_paths(fork, head_sha))
        # kpops destroys a pipeline as it was defined; a removed folder records the merge commit, the newer source.
        destroyed_at = before if config.operation_mode is OperationMode.MANAGED else commit
        steps: list[Step] = []
        for environment in config.environments:
            spec = RenderSpec(environment, config.operation_mode.render_mode, Operation.DEPLOY, config.config_dir)
            side = self._affected(before, commit, sorted(paths), spec)
            steps += [Step(Operation.DEPLOY, pipeline, environment, commit) for pipeline in side.to_deploy()]
            steps += [Step(Operation.DESTROY, pipeline, environment, destroyed_at) for pipeline in side.to_destroy()]
        return steps

    def change_base(self, before: str | None, commit: str, head_sha: str | None) -> str:
        """What a change's pipelines are judged against (the policy gate): where the merged pull request's head left
        the base branch, so a rebase merge's earlier commits count too; a push's `before`, else the first parent."""
        first = before or next(iter(self._repository.parents(commit)), None)
        if first is None:
            return commit  # a root commit: nothing came before it
        return self._fork_point(first, head_sha, commit) or first

    def _fork_point(self, before: str, head_sha: str | None, commit: str) -> str | None:
        """Where the merged head left the base branch (`before`); None without a head other than the commit."""
        if head_sha is None or head_sha == commit:
            return None
        repository = self._repository
        try:
            return repository.merge_base(before, repository.resolve(head_sha))
        except WorkspaceError as error:
            raise_if_transient(error)  # a remote that failed for a while says nothing about the head
            logger.info("head %s of the merged pull request is gone; using the merge commit alone", head_sha)
            return None

    def pushed(self, before: str, after: str) -> Pushed:
        repository = self._repository
        before, after = repository.resolve(before), repository.resolve(after)
        committers = [Identity(name, email) for name, email in repository.committers(before, after)]
        return Pushed(committers, repository.changed_paths(before, after))

    def _affected(self, base: str, head: str, changed_paths: Sequence[str], spec: RenderSpec) -> AffectedSide:
        """By kpops' file rules, then through what the base's renders read (the base's code, so the trusted pool)."""
        side = affected_side(self._repository, base, head, changed_paths, spec)
        if not beyond_file_rules(side, changed_paths):
            return side  # no render needed to know
        return reached_through_reads(self._repository, self._pool(True), self._cache, base, changed_paths, side, {})

    def render_everything(self, commit: str, config: Effective, masker: Masker) -> list[StepResult]:
        """Every pipeline of `commit` rendered for deploy in every environment of `config`, as an apply would write
        it; nothing is published."""
        steps: list[Step] = []
        for environment in config.environments:
            spec = RenderSpec(environment, config.operation_mode.render_mode, Operation.DEPLOY, config.config_dir)
            pipelines = select_pipelines(layout_at(self._repository, commit, spec), [])
            steps += [Step(Operation.DEPLOY, pipeline, environment, commit) for pipeline in pipelines]
        return self.run(steps, config, masker, run_id=commit[:10], execute=False)

    def pipeline_names(self, revision: str, names: Sequence[str], config_dir: str) -> list[str]:
        layout = layout_at(self._repository, self._repository.resolve(revision), RenderSpec(config_dir=config_dir))
        return [pipeline.name for pipeline in select_pipelines(layout, names)]

    def run(
        self,
        steps: Sequence[Step],
        config: Effective,
        masker: Masker,
        run_id: str,
        *,
        execute: bool = True,
        trusted: bool = True,
    ) -> list[StepResult]:
        operator = Operator(
            self._settings,
            lambda: self._pool(trusted),
            self._cache,
            self._repository,
            config.operation_mode,
            config.config_dir,
            masker,
            self._isolation,
            config.connectors,
        )
        return operator.run(steps, run_id, execute=execute)

    def publish(self, target: Target, writes: Sequence[PipelineWrite], message: str) -> Published:
        # A folder's recorded source is newer than ours when ours is in its history.
        return publish(target, writes, message, lambda recorded, ours: self._repository.is_ancestor(ours, recorded))
