"""Preview: a pull request opened or pushed to gets its dry-run diff as one sticky comment and a commit status."""

from __future__ import annotations

import logging

from kpops_bot.diff.model import Status
from kpops_bot.engine.dryrun import DiffRequest, diff_revisions
from kpops_bot.engine.targets import UnknownPipelineError
from kpops_bot.events.codec import load_event
from kpops_bot.events.model import PullRequestEvent
from kpops_bot.forges.base import CommitState, ForgeClient
from kpops_bot.repo_config import FILE_NAME, Effective, InvalidRepoConfigError
from kpops_bot.report import notices
from kpops_bot.report.markdown import comment_limit, render_markdown
from kpops_bot.server.routing import CLOSE, PREVIEW
from kpops_bot.services import Services
from kpops_bot.store import Job
from kpops_bot.workflows import sticky
from kpops_bot.workflows.lookups import repository_settings
from kpops_bot.workspace import WorkspaceError

logger = logging.getLogger(__name__)


class Preview:
    def __init__(self, services: Services) -> None:
        self._services = services

    def _event(self, job: Job) -> PullRequestEvent:
        event = load_event(job.payload)
        assert isinstance(event, PullRequestEvent)
        return event

    def run(self, job: Job) -> str:
        event = self._event(job)
        if self._superseded(job):
            return "superseded by a newer push"
        client = self._services.forges.get(event.repository.forge)
        trusted = not event.from_fork
        try:
            config = repository_settings(
                self._services, client, event.repository, event.base_ref, event.base_ref, trusted=trusted
            )
        except InvalidRepoConfigError as error:
            return self._refuse(client, event, str(error), f"invalid {FILE_NAME}")
        if not config.previews:
            return f"previews are off in {FILE_NAME}"
        if not trusted and not self._services.settings.allow_fork_previews:
            sticky.sync(client, event.repository, event.number, [notices.fork_not_previewed()])
            self._status(client, event, CommitState.SUCCESS, "Not previewed: pull request from a fork")
            return "fork not previewed"
        self._status(client, event, CommitState.PENDING, "Rendering the pipelines this change affects")
        return self._preview(job, client, event, config, trusted=trusted)

    def _preview(
        self, job: Job, client: ForgeClient, event: PullRequestEvent, config: Effective, *, trusted: bool
    ) -> str:
        services = self._services
        request = DiffRequest(
            source=event.repository.clone_url,
            base=event.base_ref,
            head=event.head_sha,
            environments=config.environments,
            mode=config.operation_mode.render_mode,
            config_dir=config.config_dir,
        )
        git_env = client.git_env(event.repository)
        try:
            report = diff_revisions(
                services.workspace,
                services.pools.get(trusted=trusted),
                request,
                config.diff_options,
                services.cache,
                git_env=git_env,
            )
        except (WorkspaceError, UnknownPipelineError) as error:
            reason = config.diff_options.masker.mask_text(str(error))
            return self._refuse(client, event, reason, "repository not readable")
        if self._superseded(job):
            return "superseded by a newer push"
        if not report.pipelines:
            parts = sticky.existing_parts(client, event.repository, event.number)
            if parts:
                parts = sticky.sync(client, event.repository, event.number, [notices.nothing_affected(event.head_sha)])
            self._status(client, event, CommitState.SUCCESS, "No pipeline affected")
            return "no pipeline affected"
        bodies = render_markdown(report, comment_limit(event.repository.forge), services.settings.max_comment_parts)
        parts = sticky.sync(client, event.repository, event.number, bodies)
        summary = report.summary
        state = CommitState.FAILURE if summary.blocking else CommitState.SUCCESS
        self._status(
            client,
            event,
            state,
            _describe(report.summary.pipelines, summary.failed, summary.blocking),
            parts[0].url if parts else None,
        )
        return f"reported {len(report.pipelines)} pipeline(s) in {len(bodies)} comment(s), status {state.value}"

    def give_up(self, job: Job, error: BaseException) -> None:
        event = self._event(job)
        client = self._services.forges.get(event.repository.forge)
        self._status(client, event, CommitState.ERROR, f"kpops-bot failed (job {job.id}); see the bot's log")

    def _refuse(self, client: ForgeClient, event: PullRequestEvent, reason: str, short: str) -> str:
        sticky.sync(client, event.repository, event.number, [notices.preview_failed(reason)])
        self._status(client, event, CommitState.ERROR, f"No preview: {short}")
        return f"no preview: {short}"

    def _superseded(self, job: Job) -> bool:
        return self._services.store.has_newer(job, [PREVIEW, CLOSE])

    def _status(
        self,
        client: ForgeClient,
        event: PullRequestEvent,
        state: CommitState,
        description: str,
        target_url: str | None = None,
    ) -> None:
        sandbox = self._services.sandbox
        if sandbox is not None and sandbox.explicit_off:
            description = f"{description} (rendered without sandbox)"
        client.set_status(event.repository, event.head_sha, state, description, target_url)


def _describe(pipelines: dict[Status, int], failed: int, blocking: bool) -> str:
    counts = ", ".join(f"{count} {status}" for status, count in pipelines.items() if count)
    if failed:
        return f"{failed} pipeline(s) failed to render ({counts})"
    if blocking:
        return f"Blocking risk found ({counts})"
    return f"Pipelines: {counts}"
