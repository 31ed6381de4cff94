"""Preview: a pull request opened or pushed to gets its dry-run diff as one sticky comment and a commit status.

A repository that cannot be read is the pull request's to fix and is said on it; a fault of the bot's surroundings
met on the way (a git remote or the forge answering 5xx, the bot's disk full, the database) is not: the preview
waits in a pending status naming the fault and runs again (`retrying.py`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import quote

from kpops_bot.commands.catalog import HeadUse
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.engine.targets import UnknownPipelineError
from kpops_bot.events.model import PullRequestEvent
from kpops_bot.fault_causes import raise_if_transient
from kpops_bot.head_code import HeadFacts, HeadRules, KeepHead, decide
from kpops_bot.jobs import Job, JobKind, StoredJob, pull_request_key
from kpops_bot.model.forge import CommitState, ForgeClient
from kpops_bot.model.policy import PolicyError
from kpops_bot.repo_config import FILE_NAME, Effective, InvalidRepoConfigError
from kpops_bot.report import notices, statuses
from kpops_bot.report.check_run import check_report
from kpops_bot.report.markdown import Footer, render_markdown
from kpops_bot.report.next_steps import next_commands
from kpops_bot.settings import BotSettings
from kpops_bot.version import bot_version
from kpops_bot.workflows import once, sticky
from kpops_bot.workflows.lookups import pull_request_facts, repository_settings
from kpops_bot.workflows.ports import DiffRunner, ForgeFor, Superseded
from kpops_bot.workflows.retrying import is_retry, retried_on_fault
from kpops_bot.workflows.waiting import preview_waiting
from kpops_bot.workspace import WorkspaceError

logger = logging.getLogger(__name__)


class PreviewWorkflow:
    def __init__(
        self,
        settings: BotSettings,
        forges: ForgeFor,
        diff: DiffRunner,
        superseded: Superseded,
        *,
        unsandboxed: bool = False,  # `sandbox: off`: every status says so
    ) -> None:
        self._settings = settings
        self._unsandboxed = unsandboxed
        self._forges = forges
        self._diff = diff
        self._superseded_by = superseded

    def run(self, job: Job[PullRequestEvent]) -> str:
        event = job.payload
        client = self._forges(event.repository.forge)
        with retried_on_fault(client, event.repository, event.head_sha, self._described):
            return self._run(job, client, event)

    def _run(self, job: Job[PullRequestEvent], client: ForgeClient, event: PullRequestEvent) -> str:
        newer = self._newer(job)
        if newer is not None:  # an attempt before a crash may have left its pending status
            return self._supersede(client, event, newer)
        try:
            config = repository_settings(self._settings, client, event.repository, event.base_ref, event.base_ref)
        except InvalidRepoConfigError as error:
            return self._refuse(client, event, str(error), f"invalid {FILE_NAME}")
        if not config.previews:
            return f"previews are off in {FILE_NAME}"
        facts = HeadFacts(from_fork=event.from_fork, approved=False)  # a preview never needs an approval
        head = decide(HeadUse.PREVIEW, config.operation_mode, facts, HeadRules.of(self._settings))
        if isinstance(head, KeepHead):
            sticky.sync(client, event.repository, event.number, [notices.fork_not_previewed()])
            self._status(client, event, CommitState.SUCCESS, statuses.FORK_NOT_PREVIEWED)
            return "fork not previewed"
        rendering = self._described(statuses.RENDERING)
        once.pending(client, event.repository, event.head_sha, rendering, retry=is_retry(job))
        return self._preview(job, client, event, config, trusted=head.trusted)

    def _preview(
        self,
        job: Job[PullRequestEvent],
        client: ForgeClient,
        event: PullRequestEvent,
        config: Effective,
        *,
        trusted: bool,
    ) -> str:
        facts = pull_request_facts(client, event)
        options = replace(config.diff_options, policies=replace(config.diff_options.policies, pull_request=facts))
        request = DiffRequest(
            source=event.repository.clone_url,
            base=event.base_ref,
            head=event.head_sha,
            environments=config.environments,
            mode=config.operation_mode.render_mode,
            config_dir=config.config_dir,
        )
        waiting = preview_waiting(client, event.repository, event.head_sha, self._described, retry=is_retry(job))
        git_env = client.git_env(event.repository)
        try:
            report = self._diff(request, options, trusted=trusted, git_env=git_env, on_wait=waiting)
        except (WorkspaceError, UnknownPipelineError) as error:
            raise_if_transient(error)  # the bot's disk full, a git remote's 5xx: not the repository's
            reason = config.diff_options.masker.mask_text(str(error))
            return self._refuse(client, event, reason, "repository not readable")
        except PolicyError as error:  # never a silent pass: the preview says which policy file cannot be evaluated
            reason = config.diff_options.masker.mask_text(notices.policy_not_evaluated(str(error)))
            return self._refuse(client, event, reason, "a policy failed to evaluate")
        newer = self._newer(job)
        if newer is not None:
            return self._supersede(client, event, newer)
        if not report.pipelines:
            if sticky.existing_parts(client, event.repository, event.number):
                sticky.sync(client, event.repository, event.number, [notices.nothing_affected(event.head_sha)])
            self._status(client, event, CommitState.SUCCESS, statuses.NOTHING_AFFECTED)
            return "no pipeline affected"
        footer = Footer(next_commands(report, self._settings.commands), bot_version(), self._timeline(event))
        bodies = render_markdown(
            report, client.comment_limit, self._settings.max_comment_parts, footer, base_branch=event.base_ref
        )
        parts = sticky.sync(client, event.repository, event.number, bodies)
        summary = report.summary
        state = CommitState.FAILURE if summary.blocking else CommitState.SUCCESS
        self._status(
            client,
            event,
            state,
            statuses.previewed(report.summary.pipelines, summary.failed, summary.blocking),
            parts[0].url if parts else None,
        )
        client.publish_check(event.repository, event.head_sha, check_report(report))
        return f"reported {len(report.pipelines)} pipeline(s) in {len(bodies)} comment(s), status {state.value}"

    def _timeline(self, event: PullRequestEvent) -> str | None:
        """The pull request's timeline on the status page, when the settings give the page's public address."""
        if self._settings.status_url is None:
            return None
        return f"{self._settings.status_url.rstrip('/')}/pull?key={quote(pull_request_key(event), safe='')}"

    def give_up(self, job: Job[PullRequestEvent], error: BaseException) -> None:
        event = job.payload
        client = self._forges(event.repository.forge)
        self._status(client, event, CommitState.ERROR, statuses.job_failed(job.id))

    def _refuse(self, client: ForgeClient, event: PullRequestEvent, reason: str, short: str) -> str:
        sticky.sync(client, event.repository, event.number, [notices.preview_failed(reason)])
        self._status(client, event, CommitState.ERROR, statuses.no_preview(short))
        return f"no preview: {short}"

    def _newer(self, job: Job[PullRequestEvent]) -> StoredJob | None:
        return self._superseded_by(job, [JobKind.PREVIEW, JobKind.CLOSE])

    def _supersede(self, client: ForgeClient, event: PullRequestEvent, newer: StoredJob) -> str:
        """Report nothing; a pending status of this head becomes final, unless the newer job reports this head."""
        final = superseded_status(event.head_sha, newer)
        if final is not None:
            current = client.status(event.repository, event.head_sha)
            if current is not None and current.state is CommitState.PENDING:
                self._status(client, event, CommitState.SUCCESS, final)
        return "superseded by a newer push"

    def _status(
        self,
        client: ForgeClient,
        event: PullRequestEvent,
        state: CommitState,
        description: str,
        target_url: str | None = None,
    ) -> None:
        client.set_status(event.repository, event.head_sha, state, self._described(description), target_url)

    def _described(self, description: str) -> str:
        return statuses.unsandboxed(description) if self._unsandboxed else description


def superseded_status(head_sha: str, newer: StoredJob) -> str | None:
    """The final status description of a head a newer job supersedes; None when the newer job reports this head."""
    if newer.kind == JobKind.CLOSE:
        return statuses.CLOSED_BEFORE_PREVIEW
    if newer.head_sha is None or newer.head_sha == head_sha:
        return None
    return statuses.superseded(newer.head_sha)
