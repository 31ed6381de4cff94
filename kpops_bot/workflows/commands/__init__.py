"""Comment commands: `/kpops reset word-count` and friends, checked, run in the repository's mode, answered.

A comment is handled as a whole: authorization decides each line (`authorization.py`: accepted, with how it may run
the head, or refused), every accepted command is planned by its runner (`RUNNERS`: one module per command), the
steps of all of them are locked at once (or the comment waits in line, stored to run again), they run in order, and
the dispatcher collects the sections the runners return into one answer. A comment of only help and
invalid lines needs nothing from the forge and is answered from the bot's settings alone; a lookup the others need
(the pull request, `.kpops-bot.yaml`, a permission) that the forge cannot serve is answered by naming it.

A comment is bound to the pull request's head it was written on (`_bound_head`): GitLab's note names it; GitHub's
does not, so the job records the head when it first runs, before any lock wait or retry, and keeps it through both.
A command that acts on the head (deploy, diff) is refused when the head moved since, naming both commits; approvals
are read for that commit, and the deploy runs it (not a head that moved in the instant after the check).

A fault of
the bot's surroundings (the forge or a git remote answering 5xx or not at all, a full disk, the database) is not
answered: it leaves as `TransientFault` and the comment is handled again later, as a whole (its answer, reaction and
GitOps commit are each written once: see `once.py`).

Adding a command: declare it in `kpops_bot.commands.catalog` (its name, role, purpose, use of the head), write a
module here with a runner whose `plan` answers it or returns the steps it acts on, and register the runner in
`RUNNERS`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kpops_bot.commands import approval
from kpops_bot.commands.authorize import PullRequestState
from kpops_bot.commands.catalog import CommandName
from kpops_bot.commands.parse import Command, Rejected, parse_comment
from kpops_bot.engine.targets import UnknownPipelineError
from kpops_bot.events.model import CommentEvent
from kpops_bot.fault_causes import raise_if_transient, transient_faults
from kpops_bot.gitops.publish import PublishError
from kpops_bot.head_code import HeadRules
from kpops_bot.jobs import CommandRequest, Job, JobKind, NewJob, pull_request_key, repository_key
from kpops_bot.model.forge import ForgeClient, Permission
from kpops_bot.model.locks import Granted, Resource, Waiting
from kpops_bot.repo_config import FILE_NAME, InvalidRepoConfigError
from kpops_bot.report import answers
from kpops_bot.settings import BotSettings
from kpops_bot.workflows import once
from kpops_bot.workflows.commands.authorization import (
    Accepted,
    Decision,
    Facts,
    Refused,
    authorize,
    needs_permission,
)
from kpops_bot.workflows.commands.context import (
    Acting,
    Answered,
    Collaborators,
    CommandContext,
    CommandFailure,
    CommandRunner,
    LookupFailed,
    look_up,
)
from kpops_bot.workflows.commands.diff import DiffCommand
from kpops_bot.workflows.commands.help import HelpCommand
from kpops_bot.workflows.commands.operate import OperateCommand
from kpops_bot.workflows.commands.unlock import UnlockCommand
from kpops_bot.workflows.lookups import repository_settings
from kpops_bot.workflows.ports import DiffRunner, ForgeFor, HeadRecord, LockBook, OpenRepository
from kpops_bot.workspace import WorkspaceError

RUNNERS: dict[CommandName, CommandRunner] = {
    CommandName.HELP: HelpCommand(),
    CommandName.DIFF: DiffCommand(),
    CommandName.DEPLOY: OperateCommand(),
    CommandName.RESET: OperateCommand(),
    CommandName.CLEAN: OperateCommand(),
    CommandName.DESTROY: OperateCommand(),
    CommandName.UNLOCK: UnlockCommand(),
}

__all__ = ["RUNNERS", "CommandFailure", "CommandWorkflow"]


class CommandWorkflow:
    def __init__(
        self,
        settings: BotSettings,
        forges: ForgeFor,
        diff: DiffRunner,
        locks: LockBook,
        open_repository: OpenRepository,
        record_head: HeadRecord,
    ) -> None:
        self._forges = forges
        self._collaborators = Collaborators(settings, diff, locks, open_repository, record_head)

    def run(self, job: Job[CommandRequest]) -> str:
        event = job.payload.comment
        client = self._forges(event.repository.forge)
        with transient_faults():
            return self._run(job, event, client)

    def _run(self, job: Job[CommandRequest], event: CommentEvent, client: ForgeClient) -> str:
        if event.author == client.bot_name():
            return "the bot's own comment"
        parsed = parse_comment(event.body)
        if not parsed:
            return "no command"
        resumed = job.payload.resumed
        identity = _identity(event, resumed)
        if once.find_answer(client, event.repository, event.number, identity) is not None:
            return "answered by an earlier attempt"
        if all(self._cheap(item) for item in parsed):  # answered as they are: no lookup to wait for or to fail
            return self._answer_cheaply(event, client, identity, parsed, resumed)
        try:
            context, decisions = self._prepare(job, event, client, parsed, resumed)
        except LookupFailed as failed:
            _post(client, event, identity, answers.lookup_failed(failed.what, failed.reason))
            return f"lookup failed: {failed.what}"
        except InvalidRepoConfigError as error:
            _post(client, event, identity, answers.invalid_config(str(error)))
            return "invalid repository config"
        lines = [decision.command.line for decision in decisions if isinstance(decision, Accepted)]
        if lines and not context.resumed:
            once.react(client, event.repository, event.number, event.comment_id, "eyes")
        handled = self._dispatch(context, decisions, job)
        if handled.sections:
            _post(client, event, identity, answers.Answer(answers.title(lines), handled.sections))
        return handled.outcome

    def _prepare(
        self,
        job: Job[CommandRequest],
        event: CommentEvent,
        client: ForgeClient,
        parsed: list[Command | Rejected],
        resumed: bool,
    ) -> tuple[CommandContext, list[Decision]]:
        """The pull request, the repository's settings at its base, and what authorization decided for each line.

        Raises `LookupFailed` naming what the forge could not serve, `InvalidRepoConfigError`.
        """
        settings = self._collaborators.settings
        repository = event.repository
        live = look_up(
            answers.this_pull_request(repository.forge), lambda: client.pull_request(repository, event.number)
        )
        bound = _bound_head(job, event, live.head_sha, self._collaborators.record_head)
        pull = replace(live, head_sha=bound)
        config = look_up(
            answers.repository_config_at(FILE_NAME, pull.base_ref),
            lambda: repository_settings(settings, client, repository, pull.base_ref, pull.base_ref),
        )
        context = CommandContext(event, client, pull, config, settings.secrets_masker(), resumed, self._collaborators)
        facts = _facts(context, parsed, live.head_sha)
        return context, authorize(parsed, facts, settings.commands, HeadRules.of(settings))

    def _cheap(self, item: Command | Rejected) -> bool:
        """Answered from the comment and the bot's settings alone: a rejected line, or help everyone may ask for."""
        if isinstance(item, Rejected):
            return True
        role = self._collaborators.settings.commands.role(item.name)
        return item.name is CommandName.HELP and role.permission is Permission.NONE

    def _answer_cheaply(
        self, event: CommentEvent, client: ForgeClient, identity: str, parsed: list[Command | Rejected], resumed: bool
    ) -> str:
        settings = self._collaborators.settings
        helps = [item for item in parsed if isinstance(item, Command)]
        sections = [
            answers.rejected(item.line, item.reason) for item in parsed if isinstance(item, Rejected) and not resumed
        ]
        if helps:
            sections.append(answers.help_text(settings.commands, answers.ModeNotLookedUp(settings.operation_mode)))
        if sections:  # a resumed comment's rejections were answered before it waited
            _post(client, event, identity, answers.Answer(answers.title([help_.line for help_ in helps]), sections))
        return f"answered {len(helps)} command(s)"

    def give_up(self, job: Job[CommandRequest], error: BaseException) -> None:
        """Tell the thread, unless an attempt answered already (it was killed before the job was marked done)."""
        event = job.payload.comment
        client = self._forges(event.repository.forge)
        identity = _identity(event, job.payload.resumed)
        once.answer(client, event.repository, event.number, identity, answers.command_failed(job.id))

    def _dispatch(self, context: CommandContext, decisions: list[Decision], job: Job[CommandRequest]) -> Handled:
        """Plan every accepted command, lock what they act on at once, run them. The answer's sections in order:
        refusals (once: a resumed comment told them), each runner's section, the wait; an error its author can act
        on ends the comment, told last."""
        told = [d.section for d in decisions if isinstance(d, Refused) and (d.every_run or not context.resumed)]
        accepted = [decision for decision in decisions if isinstance(decision, Accepted)]
        done: list[str] = []  # each runner's section, as it comes: an error keeps those before it
        try:
            acting: list[tuple[Command, Acting]] = []
            for each in accepted:
                planned = RUNNERS[each.command.name].plan(context, each)
                if isinstance(planned, Answered):
                    done.append(planned.section)
                else:
                    acting.append((each.command, planned))
            waiting = self._lock(context, acting, job)
            if not acting:
                return Handled(f"answered {len(accepted)} command(s)", (*told, *done))
            if waiting is not None:
                return _waiting(context, waiting, (*told, *done))
            for _command, planned in acting:
                done.append(planned.run())
        except (CommandFailure, UnknownPipelineError, WorkspaceError, PublishError) as error:
            raise_if_transient(error)
            failure = answers.failed(context.masker.mask_text(str(error)))
            return Handled("failed: " + type(error).__name__, (*told, *done, failure))
        return Handled(f"ran {len(acting)} command(s)", (*told, *done))

    def _lock(
        self, context: CommandContext, acting: list[tuple[Command, Acting]], job: Job[CommandRequest]
    ) -> Waiting | None:
        """Lock the steps of every command that acts for real, all at once; the wait when others hold some."""
        resources = {
            Resource(step.environment or "", step.pipeline.name)
            for command, planned in acting
            if not command.dry_run
            for step in planned.steps
        }
        event = context.event
        if context.resumed and not resources:  # it waited for locks it no longer takes (its head moved): out of line
            self._collaborators.locks.leave(repository_key(event.repository), _wait_key(event))
        if not resources:
            return None
        head = context.pull.head_sha  # the resumed comment stays bound to the head of its first run
        payload = replace(job.payload, resumed=True, head=head)
        resume = NewJob(pull_request_key(event), JobKind.COMMAND, payload, head_sha=head)
        lock = self._collaborators.locks.acquire(
            repository_key(event.repository),
            event.number,
            resources,
            wait_key=_wait_key(event),
            then=resume,
        )
        if isinstance(lock, Waiting):
            return lock
        assert isinstance(lock, Granted)
        return None


@dataclass(frozen=True)
class Handled:
    """What a comment's commands came to: the job's outcome, and the sections of the answer (none: say nothing)."""

    outcome: str
    sections: tuple[str, ...]


def _waiting(context: CommandContext, lock: Waiting, sections: tuple[str, ...]) -> Handled:
    if context.resumed:
        return Handled("still waiting for a lock", ())  # said so already, with the rest of the answer
    line = answers.LockLine(lock.position, [(str(r), holder) for r, holder in sorted(lock.held_by.items())], lock.ahead)
    return Handled(
        f"waiting for a lock, position {lock.position}",
        (*sections, answers.waiting(line, context.event.repository.forge)),
    )


def _wait_key(event: CommentEvent) -> str:
    """How the comment waits in line for locks: once, however often it is run."""
    return f"comment:{event.comment_id}"


def _bound_head(job: Job[CommandRequest], event: CommentEvent, live: str, record: HeadRecord) -> str:
    """The head the comment was written on. A comment resumed after a lock wait carries its first run's; GitLab's
    note names it (the job's head since the delivery); else the job records the head it sees now, on its first run:
    the moment nearest the comment the bot can read it without a forge call on the webhook path (the job runs at
    once unless other work of the same pull request is ahead of it), and the one every retry and replica reads back.
    """
    if job.payload.head is not None:
        return job.payload.head
    return job.head_sha or event.head_sha or record(job.id, live)


def _post(client: ForgeClient, event: CommentEvent, identity: str, reply: answers.Answer) -> None:
    once.post_answer(client, event.repository, event.number, identity, reply)


def _identity(event: CommentEvent, resumed: bool) -> str:
    """What the answer answers: the comment, or its run after waiting for a lock (the wait was answered apart)."""
    return f"comment:{event.comment_id}" + (":resumed" if resumed else "")


def _facts(context: CommandContext, parsed: list[Command | Rejected], live: str) -> Facts:
    """What authorization needs from the forge: the approval first (when a command requires one), then the author's
    permission (when a command needs more than everyone's)."""
    policy = context.collaborators.settings.commands
    state = PullRequestState(
        open=context.pull.open,
        approved=bool(policy.require_approval) and _approved(context),
        mergeable=context.pull.mergeable,
    )
    author = context.event.author
    permission = _permission(context, author) if needs_permission(parsed, policy) else Permission.NONE
    moved_to = live if live != context.pull.head_sha else None
    return Facts(
        author,
        permission,
        state,
        context.pull.from_fork,
        context.pull.head_sha,
        moved_to,
        context.config.operation_mode,
    )


def _approved(context: CommandContext) -> bool:
    least = context.collaborators.settings.commands.approval_permission.permission
    return approval.approved(
        context.pull.reviews, context.pull.head_sha, least, lambda user: _permission(context, user)
    )


def _permission(context: CommandContext, user: str) -> Permission:
    return look_up(answers.permission_of(user), lambda: context.client.permission(context.event.repository, user))
