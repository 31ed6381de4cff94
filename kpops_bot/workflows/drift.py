"""Drift: a deploy branch rendered as an apply would write it, compared with its GitOps target; a difference is
kept in one forge issue per repository and branch, opened, updated and closed by the bot.

Only manifest and argo mode have a target to compare; in managed mode the cluster is the target and kpops' own
diff (`/kpops deploy --dry-run`) shows it. A fault of the surroundings (the forge, a git remote, a full disk) is
retried, not reported (`kpops_bot.fault_causes`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kpops_bot import metrics
from kpops_bot.drift import Drift, Folders, compare
from kpops_bot.events.model import Repository
from kpops_bot.fault_causes import transient_faults
from kpops_bot.forges.urls import clone_url
from kpops_bot.gitops.layout import pipeline_folder
from kpops_bot.gitops.snapshot import environment_folders
from kpops_bot.gitops.target import Target
from kpops_bot.jobs import DriftCheck, Job
from kpops_bot.model.forge import ForgeClient
from kpops_bot.report import answers
from kpops_bot.report import drift as drift_text
from kpops_bot.settings import BotSettings, OperationMode
from kpops_bot.workflows.lookups import gitops_target, repository_settings
from kpops_bot.workflows.ports import DriftSource, ForgeFor

logger = logging.getLogger(__name__)

ReadTarget = Callable[[Target, str, list[str | None]], Folders]


class DriftWorkflow:
    def __init__(
        self,
        settings: BotSettings,
        forges: ForgeFor,
        open_repository: Callable[[Repository, ForgeClient], DriftSource],
        read_target: ReadTarget = environment_folders,
    ) -> None:
        self._settings = settings
        self._forges = forges
        self._open_repository = open_repository
        self._read_target = read_target

    def run(self, job: Job[DriftCheck]) -> str:
        with transient_faults():
            return self._run(job)

    def _run(self, job: Job[DriftCheck]) -> str:
        check = job.payload
        client = self._forges(check.forge)
        repository = Repository(check.forge, check.full_name, clone_url(check.forge, self._settings, check.full_name))
        config = repository_settings(self._settings, client, repository, check.branch, check.branch)
        if config.operation_mode is OperationMode.MANAGED:
            return "not checked: managed mode has no GitOps target"
        source = self._open_repository(repository, client)
        commit = source.resolve(check.branch)
        masker = self._settings.secrets_masker()
        results = source.render_everything(commit, config, masker)
        expected = {r.write.folder: dict(r.write.resources or {}) for r in results if r.ok and r.write is not None}
        unrendered = [
            drift_text.unrendered(r.step.pipeline.name, r.step.environment, r.summary) for r in results if not r.ok
        ]
        target = gitops_target(self._settings, client, repository, check.branch)
        actual = dict(self._read_target(target, self._settings.gitops.path, config.environments))
        for failed in (r for r in results if not r.ok):  # not rendered: not compared
            actual.pop(
                pipeline_folder(self._settings.gitops.path, failed.step.environment, failed.step.pipeline.name), None
            )
        drifts = compare(expected, actual)
        outcome = self._report(client, repository, check, commit, target, drifts, unrendered, masker.mask_text)
        metrics.drift_checks.labels(check.forge.value, "drifted" if drifts else "in_sync").inc()
        return outcome

    def _report(
        self,
        tracker: ForgeClient,
        repository: Repository,
        check: DriftCheck,
        commit: str,
        target: Target,
        drifts: list[Drift],
        unrendered: list[str],
        mask: Callable[[str], str],
    ) -> str:
        issue = tracker.open_issue_with(repository, drift_text.marker(check.branch))
        if not drifts:
            if issue is None:
                return "in sync"
            body = answers.fit(mask(drift_text.resolved(check.branch, commit, issue.body)), tracker.comment_limit)
            tracker.update_issue(repository, issue.number, body, close=True)
            return f"in sync again: issue #{issue.number} closed"
        where = f"{target.branch}:{self._settings.gitops.path}"
        body = answers.fit(
            mask(drift_text.drifted(check.branch, commit, where, drifts, unrendered)), tracker.comment_limit
        )
        if issue is None:
            created = tracker.create_issue(repository, drift_text.title(check.branch), body)
            return f"{len(drifts)} difference(s): issue #{created.number} opened"
        if issue.body != body:
            tracker.update_issue(repository, issue.number, body)
        return f"{len(drifts)} difference(s): issue #{issue.number} up to date"

    def give_up(self, job: Job[DriftCheck], error: BaseException) -> None:
        """Nobody waits on a drift check; the next one tries again, and the failure is in the log."""
        metrics.drift_checks.labels(job.payload.forge.value, "failed").inc()
