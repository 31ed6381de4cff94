"""The GitHub Action: one event from `GITHUB_EVENT_PATH` through the same routing and workflows as the server.

A team without a server runs the bot in its own workflow. The event is parsed, given the configured clone URL and
routed exactly as a webhook delivery is; its job runs at once in this process, against a store in the runner's
temporary folder. So locks and the line of waiting comments last for one run only: the workflow's `concurrency`
group serialises runs per pull request instead. What the run posted also goes to the job's step summary, and the
dry-run report (previews and `/kpops diff`) to a JSON file named in the step's outputs.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.events import github
from kpops_bot.events.model import Forge, Ignored, MalformedEventError, Repository
from kpops_bot.forges.github import GitHubClient
from kpops_bot.forges.urls import with_configured_clone_url
from kpops_bot.jobs import NewJob, decode
from kpops_bot.model.forge import Comment, CommitState, ForgeClient
from kpops_bot.report.as_json import render_json
from kpops_bot.report.identity import strip_marker
from kpops_bot.server.bot import workflows
from kpops_bot.server.routing import job_for
from kpops_bot.services import Services
from kpops_bot.settings import BotSettings
from kpops_bot.versions.index import WaitListener


class ActionError(Exception):
    """The run cannot start (an event missing or unreadable); the message says what."""


@dataclass
class ActionOutcome:
    outcome: str  # the workflow's few words, or why nothing ran
    verdict: str  # the status the bot set on the commit last: success, failure, error; `skipped` when none
    blocking: bool = False
    report_json: Path | None = None
    posted: list[str] = field(default_factory=list)  # the comments the run wrote, as posted

    def summary(self) -> str:
        """The job's step summary: what happened, then what was posted."""
        parts = [f"### kpops-bot: {self.outcome}", *(strip_marker(body) for body in self.posted)]
        return "\n\n".join(parts) + "\n"


class _ObservedGitHub(GitHubClient):
    """The GitHub client, remembering the statuses and comments this run wrote for the step's outputs."""

    statuses: list[CommitState]
    posted: dict[int, str]

    def set_status(
        self, repository: Repository, sha: str, state: CommitState, description: str, target_url: str | None = None
    ) -> None:
        super().set_status(repository, sha, state, description, target_url)
        self.statuses.append(state)

    def create_comment(self, repository: Repository, number: int, body: str) -> Comment:
        comment = super().create_comment(repository, number, body)
        self.posted[comment.id] = body
        return comment

    def edit_comment(self, repository: Repository, number: int, comment_id: int, body: str) -> None:
        super().edit_comment(repository, number, comment_id, body)
        self.posted[comment_id] = body


def run_action(env: Mapping[str, str], settings: BotSettings) -> ActionOutcome:
    """Run the bot for the event the runner names in `env`."""
    event_name, payload = _event(env)
    delivery = f"actions-{env.get('GITHUB_RUN_ID', '0')}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    try:
        parsed = github.parse(event_name, delivery, payload)
    except MalformedEventError as error:
        raise ActionError(f"the {event_name} event is not one the bot can read: {error}") from error
    if isinstance(parsed, Ignored):
        return ActionOutcome(f"nothing to do: {parsed.reason}", "skipped")
    event = with_configured_clone_url(parsed, settings)
    job = job_for(event, settings)
    if isinstance(job, Ignored):
        return ActionOutcome(f"nothing to do: {job.reason}", "skipped")
    services = Services.create(settings)
    try:
        return _run(services, job)
    finally:
        services.close()


def _event(env: Mapping[str, str]) -> tuple[str, object]:
    event_name, event_path = env.get("GITHUB_EVENT_NAME"), env.get("GITHUB_EVENT_PATH")
    if not event_name or not event_path:
        msg = "GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not set: run this as a step of a GitHub Actions job"
        raise ActionError(msg)
    try:
        payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ActionError(f"cannot read the event at {event_path}: {error}") from error
    return event_name, payload


def _run(services: Services, new_job: NewJob) -> ActionOutcome:
    client = _ObservedGitHub(services.settings.github)
    client.statuses, client.posted = [], {}
    reports: list[DiffReport] = []

    def diff(
        request: DiffRequest,
        options: DiffOptions,
        *,
        trusted: bool,
        git_env: dict[str, str],
        on_wait: WaitListener | None = None,
    ) -> DiffReport:
        report = services.diff(request, options, trusted=trusted, git_env=git_env, on_wait=on_wait)
        reports.append(report)
        return report

    handlers = workflows(services, forges=lambda _forge: _only_github(_forge, client), diff=diff)
    services.store.enqueue(new_job)
    owner = f"actions:{socket.gethostname()}:{os.getpid()}"
    stored = services.store.claim(owner, services.settings.lease_seconds)
    assert stored is not None and stored.key == new_job.key, "the run's own job is the only one in its store"
    job = decode(stored)  # written by this run: it reads
    handler = handlers[job.kind]
    try:
        outcome = handler.run(job)
    except Exception as error:
        handler.give_up(job, error)
        services.store.finish(job.id, owner, f"{type(error).__name__}: {error}", failed=True)
        masked = services.settings.secrets_masker().mask_text(f"{type(error).__name__}: {error}")
        return ActionOutcome(f"failed: {masked}", CommitState.ERROR.value, posted=list(client.posted.values()))
    services.store.finish(job.id, owner, outcome)
    report = reports[-1] if reports else None
    result = ActionOutcome(
        outcome,
        client.statuses[-1].value if client.statuses else "skipped",
        blocking=bool(report and report.summary.blocking),
        posted=list(client.posted.values()),
    )
    if report is not None:
        result.report_json = services.settings.data_dir / "report.json"
        result.report_json.write_text(render_json(report), encoding="utf-8")
    return result


def _only_github(forge: Forge, client: ForgeClient) -> ForgeClient:
    if forge is not Forge.GITHUB:
        msg = "the GitHub Action serves GitHub events only"
        raise ActionError(msg)
    return client


def write_outputs(outcome: ActionOutcome, env: Mapping[str, str]) -> None:
    """The step's outputs (`GITHUB_OUTPUT`) and the job's summary (`GITHUB_STEP_SUMMARY`), where the runner asks."""
    outputs = {
        "outcome": outcome.outcome.replace("\n", " "),
        "verdict": outcome.verdict,
        "blocking": "true" if outcome.blocking else "false",
        "report-json": str(outcome.report_json or ""),
    }
    if env.get("GITHUB_OUTPUT"):
        with Path(env["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as handle:
            handle.writelines(f"{name}={value}\n" for name, value in outputs.items())
    if env.get("GITHUB_STEP_SUMMARY"):
        with Path(env["GITHUB_STEP_SUMMARY"]).open("a", encoding="utf-8") as handle:
            handle.write(outcome.summary())
