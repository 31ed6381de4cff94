"""Comment commands: `/kpops reset word-count` and friends, checked, run in the repository's mode, answered.

A comment is handled as a whole: invalid lines and refusals are answered, every accepted command is planned by its
runner (`RUNNERS`: one module per command), the steps of all of them are locked at once (or the comment waits in
line, stored to run again), they run in order, and one answer comment tells the outcome.

Adding a command: give it a `CommandName` (and a role) in `kpops_bot.commands`, write a module here with a runner
whose `plan` answers it or returns the steps it acts on, and register the runner in `RUNNERS`.
"""

from __future__ import annotations

from kpops_bot.commands import approval
from kpops_bot.commands.authorize import PullRequestState, refusal
from kpops_bot.commands.parse import Command, CommandName, Rejected, parse_comment
from kpops_bot.engine import UnknownPipelineError
from kpops_bot.events.codec import load_event
from kpops_bot.events.model import CommentEvent
from kpops_bot.forges.base import ForgeError, Permission
from kpops_bot.gitops.publish import PublishError
from kpops_bot.head_code import HeadFacts, HeadRules, KeepHead, decide, requires_head_decision, use_of
from kpops_bot.jobs import JobKind, pull_request_key, repository_key
from kpops_bot.locks import Granted, Resource, Waiting
from kpops_bot.repo_config import InvalidRepoConfigError
from kpops_bot.report import answers
from kpops_bot.report.identity import answer_line, with_answer_line
from kpops_bot.settings import BotSettings
from kpops_bot.store import Job, NewJob
from kpops_bot.workflows import once
from kpops_bot.workflows.commands.context import (
    Acting,
    Answered,
    Collaborators,
    CommandContext,
    CommandFailure,
    CommandRunner,
)
from kpops_bot.workflows.commands.diff import DiffCommand
from kpops_bot.workflows.commands.help import HelpCommand
from kpops_bot.workflows.commands.operate import OperateCommand
from kpops_bot.workflows.commands.unlock import UnlockCommand
from kpops_bot.workflows.lookups import repository_settings
from kpops_bot.workflows.ports import DiffRunner, ForgeFor, LockBook, OpenRepository
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
    ) -> None:
        self._forges = forges
        self._collaborators = Collaborators(settings, diff, locks, open_repository)

    def run(self, job: Job) -> str:
        event = load_event(job.payload)
        assert isinstance(event, CommentEvent)
        client = self._forges(event.repository.forge)
        if event.author == client.bot_name():
            return "the bot's own comment"
        parsed = parse_comment(event.body)
        if not parsed:
            return "no command"
        resumed = bool(job.payload.get("resumed"))
        identity = _identity(event, resumed)
        if once.find_answer(client, event.repository, event.number, identity) is not None:
            return "answered by an earlier attempt"
        rejections = [item for item in parsed if isinstance(item, Rejected)]
        if len(rejections) == len(parsed):  # no command to run: answered as they are, with no lookup to fail
            body = answers.answer("command", [_rejection(item) for item in rejections])
            client.create_comment(event.repository, event.number, with_answer_line(identity, body))
            return "answered 0 command(s)"
        try:
            pull = client.pull_request(event.repository, event.number)
        except ForgeError as error:
            body = answers.pull_request_unreadable(event.repository.forge, str(error))
            client.create_comment(event.repository, event.number, with_answer_line(identity, body))
            return "pull request unreadable"
        settings = self._collaborators.settings
        try:
            config = repository_settings(settings, client, event.repository, pull.base_ref, pull.base_ref)
        except InvalidRepoConfigError as error:
            body = answers.answer("command not run", [str(error)])
            client.create_comment(event.repository, event.number, with_answer_line(identity, body))
            return "invalid repository config"
        context = CommandContext(event, client, pull, config, settings.secrets_masker(), resumed, self._collaborators)
        accepted = self._check(context, parsed)
        if accepted and not context.resumed:
            once.react(client, event.repository, event.number, event.comment_id, "eyes")
        try:
            outcome = self._execute(context, accepted, job)
        except (CommandFailure, UnknownPipelineError, WorkspaceError, PublishError) as error:
            context.sections.append(f"❌ {context.masker.mask_text(str(error))}")
            outcome = "failed: " + type(error).__name__
        if context.sections:
            title = (
                "`" + "`, `".join(answers.quoted(command.line) for command in accepted) + "`" if accepted else "command"
            )
            room = client.comment_limit - len(answer_line(identity)) - 1
            body = answers.fit(answers.answer(title, context.sections), room)
            client.create_comment(event.repository, event.number, with_answer_line(identity, body))
        return outcome

    def give_up(self, job: Job, error: BaseException) -> None:
        """Tell the thread, unless an attempt answered already (it was killed before the job was marked done)."""
        event = load_event(job.payload)
        assert isinstance(event, CommentEvent)
        client = self._forges(event.repository.forge)
        identity = _identity(event, bool(job.payload.get("resumed")))
        once.answer(client, event.repository, event.number, identity, answers.command_failed(job.id))

    def _check(self, context: CommandContext, parsed: list[Command | Rejected]) -> list[Command]:
        """Accepted commands; rejections and refusals become answers (once: a resumed comment was answered)."""
        accepted: list[Command] = []
        permission: Permission | None = None
        policy = self._collaborators.settings.commands
        state = PullRequestState(
            open=context.pull.open,
            approved=bool(policy.require_approval) and _approved(context),
            mergeable=context.pull.mergeable,
        )
        for item in parsed:
            if isinstance(item, Rejected):
                _note(context, _rejection(item))
                continue
            if permission is None and policy.role(item.name).permission > Permission.NONE:
                permission = context.client.permission(context.event.repository, context.event.author)
            why = refusal(item.name, item.dry_run, context.event.author, permission or Permission.NONE, state, policy)
            if why is None and requires_head_decision(item.name):
                why = _head_decision(context, item, state)
            if why is not None:
                _note(context, answers.refused(item.line, why))
                continue
            accepted.append(item)
        return accepted

    def _execute(self, context: CommandContext, commands: list[Command], job: Job) -> str:
        acting: list[tuple[Command, Acting]] = []
        for command in commands:
            planned = RUNNERS[command.name].plan(context, command)
            if isinstance(planned, Answered):
                context.sections.append(planned.section)
            else:
                acting.append((command, planned))
        if not acting:
            return f"answered {len(commands)} command(s)"
        resources = {
            Resource(step.environment or "", step.pipeline.name)
            for command, planned in acting
            if not command.dry_run
            for step in planned.steps
        }
        if resources:
            event = context.event
            resume = NewJob(pull_request_key(event), JobKind.COMMAND, {**job.payload, "resumed": True})
            lock = self._collaborators.locks.acquire(
                repository_key(event.repository),
                event.number,
                resources,
                wait_key=f"comment:{event.comment_id}",
                then=resume,
            )
            if isinstance(lock, Waiting):
                if context.resumed:
                    context.sections.clear()  # still waiting: said so already
                    return "still waiting for a lock"
                line = answers.LockLine(
                    lock.position, [(str(r), holder) for r, holder in sorted(lock.held_by.items())], lock.ahead
                )
                context.sections.append(answers.waiting(line, event.repository.forge))
                return f"waiting for a lock, position {lock.position}"
            assert isinstance(lock, Granted)
        for _command, planned in acting:
            context.sections.append(planned.run())
        return f"ran {len(acting)} command(s)"


def _rejection(item: Rejected) -> str:
    return answers.rejected(item.line, item.reason) if item.line else f"❌ {item.reason}"


def _identity(event: CommentEvent, resumed: bool) -> str:
    """What the answer answers: the comment, or its run after waiting for a lock (the wait was answered apart)."""
    return f"comment:{event.comment_id}" + (":resumed" if resumed else "")


def _approved(context: CommandContext) -> bool:
    least = context.collaborators.settings.commands.approval_permission.permission
    client, repository = context.client, context.event.repository
    return approval.approved(
        context.pull.reviews, context.pull.head_sha, least, lambda user: client.permission(repository, user)
    )


def _head_decision(context: CommandContext, command: Command, state: PullRequestState) -> str | None:
    """Whether the command may run the head (None, and how, in `context.head_runs`); or why not."""
    facts = HeadFacts(from_fork=context.pull.from_fork, approved=state.approved)
    rules = HeadRules.of(context.collaborators.settings)
    decision = decide(use_of(command.name), context.config.operation_mode, facts, rules, dry_run=command.dry_run)
    if isinstance(decision, KeepHead):
        return decision.reason
    context.head_runs[command] = decision
    return None


def _note(context: CommandContext, text: str) -> None:
    if not context.resumed:
        context.sections.append(text)
