"""Apply: a merged pull request (or a push to a deploy branch) puts what it changed into effect.

The affected pipelines are found between the commit before and the merge commit (plus the pull request's own
changes, so a rebase merge of several commits is covered), per environment mapped to the branch, and applied at
the merge commit: managed mode runs `kpops deploy --execute` (changed, added) and `kpops destroy --execute`
(removed, as defined before); manifest and argo mode commit the rendered folders to the GitOps target, removing
the folders of removed pipelines. A pipeline that does not render is reported and left as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kpops_bot.changes import affected_pipelines
from kpops_bot.engine.model import Operation, RenderSpec
from kpops_bot.engine.targets import UnknownPipelineError, layout_at
from kpops_bot.events.codec import load_event
from kpops_bot.events.model import PullRequestEvent, PushEvent, Repository
from kpops_bot.forges.base import CommitState, ForgeClient
from kpops_bot.gitops.publish import PublishError, publish
from kpops_bot.repo_config import Effective, InvalidRepoConfigError
from kpops_bot.report import answers, notices
from kpops_bot.report.markdown import comment_limit
from kpops_bot.server.routing import repository_key
from kpops_bot.services import Services
from kpops_bot.settings import OperationMode
from kpops_bot.store import Job
from kpops_bot.workflows import sticky
from kpops_bot.workflows.lookups import gitops_target, newer_than, repository_settings
from kpops_bot.workflows.operate import Operator, Step, StepResult
from kpops_bot.workspace import CachedRepository, WorkspaceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Change:
    """What is applied: the repository, the branch, the commit, and (for a merge) the pull request."""

    repository: Repository
    branch: str
    commit: str
    before: str | None  # the branch's commit before the change; None: the merge commit's first parent
    number: int | None = None
    head_sha: str | None = None
    url: str | None = None


class ApplyWorkflow:
    def __init__(self, services: Services) -> None:
        self._services = services

    def _change(self, job: Job, client: ForgeClient) -> _Change:
        event = load_event(job.payload)
        if isinstance(event, PushEvent):
            assert event.branch is not None
            return _Change(event.repository, event.branch, event.after, event.before)
        assert isinstance(event, PullRequestEvent)
        merge_commit = event.merge_commit_sha
        url = None
        if merge_commit is None:  # GitLab leaves it out for fast-forward merges; the forge knows
            pull = client.pull_request(event.repository, event.number)
            merge_commit, url = pull.merge_commit_sha or event.head_sha, pull.url
        return _Change(event.repository, event.base_ref, merge_commit, None, event.number, event.head_sha, url)

    def run(self, job: Job) -> str:
        client = self._services.forges.get(load_event(job.payload).repository.forge)
        change = self._change(job, client)
        try:
            config = repository_settings(self._services, client, change.repository, change.commit, change.branch)
        except InvalidRepoConfigError as error:
            return self._report(client, change, False, [f"❌ Nothing was applied: {error}"], "invalid config")
        client.set_status(change.repository, change.commit, CommitState.PENDING, "Applying the changed pipelines")
        try:
            results, gitops = self._apply(client, change, config)
        except (WorkspaceError, PublishError, UnknownPipelineError) as error:  # a name clash is the repository's
            reason = self._services.settings.secrets_masker().mask_text(str(error))
            return self._report(client, change, False, [f"❌ Nothing was applied: {reason}"], "apply failed")
        ok = all(result.ok for result in results)
        sections = [answers.step_results(results) if results else "No pipeline changed: nothing to apply."]
        if gitops:
            sections.append(gitops)
        failed = sum(not result.ok for result in results)
        return self._report(client, change, ok, sections, f"{len(results)} step(s), {failed} failed")

    def _apply(self, client: ForgeClient, change: _Change, config: Effective) -> tuple[list[StepResult], str]:
        repository = self._services.workspace.repository(
            change.repository.clone_url, git_env=client.git_env(change.repository)
        )
        commit = repository.resolve(change.commit)
        steps = self._steps(repository, change, commit, config)
        masker = self._services.settings.secrets_masker()
        operator = Operator(self._services, repository, config.operation_mode, config.config_dir, masker)
        results = operator.run(steps, run_id=commit[:10])
        if config.operation_mode is OperationMode.MANAGED:
            return results, ""
        writes = [result.write for result in results if result.ok and result.write is not None]
        if not writes:
            return results, ""
        target = gitops_target(self._services, client, change.repository, change.branch)
        message = self._message(change, commit, results)
        done = publish(target, writes, message, newer_than(repository))
        url = client.commit_url(change.repository, done.commit) if done.commit else None
        return results, answers.published(done, url, f"`{target.branch}`")

    def _steps(self, repository: CachedRepository, change: _Change, commit: str, config: Effective) -> list[Step]:
        before = change.before or next(iter(repository.parents(commit)), None)
        if before is None:
            return []
        paths = set(repository.changed_paths(before, commit))
        if change.head_sha is not None and change.head_sha != commit:
            try:  # a rebase merge: the first parent only sees its last commit
                head = repository.resolve(change.head_sha)
                paths |= set(repository.changed_paths(repository.merge_base(before, head), head))
            except WorkspaceError:
                logger.info("head %s of the merged pull request is gone; using the merge commit alone", change.head_sha)
        # kpops destroys a pipeline as it was defined; a removed folder records the merge commit, the newer source.
        destroyed_at = before if config.operation_mode is OperationMode.MANAGED else commit
        steps: list[Step] = []
        for environment in config.environments:
            spec = RenderSpec(environment, config.operation_mode.render_mode, Operation.DEPLOY, config.config_dir)
            old, new = layout_at(repository, before, spec), layout_at(repository, commit, spec)
            affected = affected_pipelines(old, new, sorted(paths), environment)
            steps += [
                Step(Operation.DEPLOY, new.pipelines[name], environment, commit)
                for name in sorted(affected.changed | affected.added)
            ]
            steps += [
                Step(Operation.DESTROY, old.pipelines[name], environment, destroyed_at)
                for name in sorted(affected.removed)
            ]
        return steps

    def _message(self, change: _Change, commit: str, results: list[StepResult]) -> str:
        forge = change.repository.forge
        what = (
            answers.pull_request_ref(forge, change.number) if change.number is not None else f"push to {change.branch}"
        )
        lines = [
            f"Applied from {change.repository.full_name} {what}, merge commit {commit}.",
            "",
            *(
                f"- {result.step.pipeline.name} ({result.step.environment or 'default'}): {result.step.operation}"
                for result in results
                if result.ok and result.write is not None
            ),
        ]
        return answers.commit_message(f"kpops-bot: apply {what} ({commit[:12]})", lines, commit)

    def _report(self, client: ForgeClient, change: _Change, ok: bool, sections: list[str], outcome: str) -> str:
        title = f"applied `{change.commit[:12]}`" if ok else f"apply of `{change.commit[:12]}` failed"
        description = "Applied" if ok else "Apply failed: see the pull request" if change.number else "Apply failed"
        link = None
        if change.number is not None:
            body = answers.fit(answers.answer(title, sections), comment_limit(change.repository.forge))
            link = client.create_comment(change.repository, change.number, body).url
            self._release(client, change)
        state = CommitState.SUCCESS if ok else CommitState.FAILURE
        client.set_status(change.repository, change.commit, state, description, link)
        return outcome

    def _release(self, client: ForgeClient, change: _Change) -> None:
        assert change.number is not None
        key = repository_key(change.repository)
        self._services.wake(self._services.locks.release(key, change.number, forget_waits=True).woken)
        parts = sticky.existing_parts(client, change.repository, change.number)
        why = f"This pull request was merged as `{change.commit[:12]}`; the apply's outcome is below."
        sticky.sync(client, change.repository, change.number, [notices.mark_outdated(p.body, why) for p in parts])

    def give_up(self, job: Job, error: BaseException) -> None:
        client = self._services.forges.get(load_event(job.payload).repository.forge)
        change = self._change(job, client)
        client.set_status(
            change.repository, change.commit, CommitState.ERROR, f"kpops-bot failed (job {job.id}); see its log"
        )
        if change.number is not None:
            self._release(client, change)
