"""Comment commands: `/kpops reset word-count` and friends, checked, run in the repository's mode, answered.

A comment is handled as a whole: invalid lines and refusals are answered, the accepted commands take the locks of
everything they act on at once (or the comment waits in line, stored to run again), then run in order, and one
answer comment tells the outcome. A retried job renames nothing: one-off jobs are named after the comment, so a
second attempt writes the same files and the GitOps target gets no second commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kpops_bot.changes import affected_pipelines
from kpops_bot.commands import approval
from kpops_bot.commands.authorize import PullRequestState, refusal
from kpops_bot.commands.parse import Command, CommandName, Rejected, parse_comment
from kpops_bot.engine.dryrun import DiffRequest, diff_revisions
from kpops_bot.engine.model import Operation, RenderSpec
from kpops_bot.engine.targets import UnknownPipelineError, layout_at, select_pipelines
from kpops_bot.events.codec import load_event
from kpops_bot.events.model import CommentEvent
from kpops_bot.forges.base import ForgeClient, Permission, PullRequest
from kpops_bot.gitops.publish import PublishError, publish
from kpops_bot.head_code import HeadFacts, HeadRules, KeepHead, RunHead, decide, requires_head_decision, use_of
from kpops_bot.locks import Granted, Resource, Waiting
from kpops_bot.masking import Masker
from kpops_bot.repo_config import Effective, InvalidRepoConfigError
from kpops_bot.report import answers
from kpops_bot.report.markdown import MARKER, comment_limit, render_markdown
from kpops_bot.server.routing import COMMAND, pull_request_key, repository_key
from kpops_bot.services import Services
from kpops_bot.settings import OperationMode
from kpops_bot.store import Job, NewJob
from kpops_bot.workflows.lookups import gitops_target, newer_than, repository_settings
from kpops_bot.workflows.operate import Operator, Step, StepResult
from kpops_bot.workspace import CachedRepository, WorkspaceError

_OPERATIONS = {
    CommandName.DEPLOY: Operation.DEPLOY,
    CommandName.RESET: Operation.RESET,
    CommandName.CLEAN: Operation.CLEAN,
    CommandName.DESTROY: Operation.DESTROY,
}


class CommandFailure(Exception):
    """A command that cannot go on for a reason its author can act on (unknown pipeline, bad environment)."""


@dataclass
class _Context:
    event: CommentEvent
    client: ForgeClient
    pull: PullRequest
    config: Effective
    masker: Masker
    resumed: bool
    sections: list[str] = field(default_factory=list)
    head_runs: dict[Command, RunHead] = field(default_factory=dict)  # how each command that runs the head runs it
    _repository: CachedRepository | None = None


class CommandWorkflow:
    def __init__(self, services: Services) -> None:
        self._services = services

    def run(self, job: Job) -> str:
        event = load_event(job.payload)
        assert isinstance(event, CommentEvent)
        client = self._services.forges.get(event.repository.forge)
        if event.author == client.bot_name():
            return "the bot's own comment"
        parsed = parse_comment(event.body)
        if not parsed:
            return "no command"
        pull = client.pull_request(event.repository, event.number)
        try:
            config = repository_settings(self._services, client, event.repository, pull.base_ref, pull.base_ref)
        except InvalidRepoConfigError as error:
            client.create_comment(event.repository, event.number, answers.answer("command not run", [str(error)]))
            return "invalid repository config"
        context = _Context(
            event, client, pull, config, self._services.settings.secrets_masker(), bool(job.payload.get("resumed"))
        )
        accepted = self._check(context, parsed)
        if accepted and not context.resumed:
            client.react(event.repository, event.number, event.comment_id, "eyes")
        try:
            outcome = self._execute(context, accepted, job)
        except (CommandFailure, UnknownPipelineError, WorkspaceError, PublishError) as error:
            context.sections.append(f"❌ {context.masker.mask_text(str(error))}")
            outcome = "failed: " + type(error).__name__
        if context.sections:
            title = (
                "`" + "`, `".join(answers.quoted(command.line) for command in accepted) + "`" if accepted else "command"
            )
            body = answers.answer(title, context.sections)
            client.create_comment(
                event.repository, event.number, answers.fit(body, comment_limit(event.repository.forge))
            )
        return outcome

    def give_up(self, job: Job, error: BaseException) -> None:
        event = load_event(job.payload)
        assert isinstance(event, CommentEvent)
        client = self._services.forges.get(event.repository.forge)
        client.create_comment(
            event.repository,
            event.number,
            answers.answer(
                "command failed",
                [
                    f"The bot could not run this comment's commands (job {job.id}); "
                    "its log has the cause. Comment again to retry."
                ],
            ),
        )

    def _check(self, context: _Context, parsed: list[Command | Rejected]) -> list[Command]:
        """Accepted commands; rejections and refusals become answers (once: a resumed comment was answered)."""
        accepted: list[Command] = []
        permission: Permission | None = None
        policy = self._services.settings.commands
        state = PullRequestState(
            open=context.pull.open,
            approved=bool(policy.require_approval) and self._approved(context),
            mergeable=context.pull.mergeable,
        )
        for item in parsed:
            if isinstance(item, Rejected):
                self._note(context, answers.rejected(item.line, item.reason) if item.line else f"❌ {item.reason}")
                continue
            if permission is None and policy.role(item.name).permission > Permission.NONE:
                permission = context.client.permission(context.event.repository, context.event.author)
            why = refusal(item.name, item.dry_run, context.event.author, permission or Permission.NONE, state, policy)
            if why is None and requires_head_decision(item.name):
                why = self._head_decision(context, item, state)
            if why is not None:
                self._note(context, f"🚫 `{answers.quoted(item.line)}`: {why}")
                continue
            accepted.append(item)
        return accepted

    def _approved(self, context: _Context) -> bool:
        least = self._services.settings.commands.approval_permission.permission
        client, repository = context.client, context.event.repository
        return approval.approved(
            context.pull.reviews, context.pull.head_sha, least, lambda user: client.permission(repository, user)
        )

    def _head_decision(self, context: _Context, command: Command, state: PullRequestState) -> str | None:
        """Whether the command may run the head (None) and how; or why not."""
        facts = HeadFacts(from_fork=context.pull.from_fork, approved=state.approved)
        rules = HeadRules.of(self._services.settings)
        decision = decide(use_of(command.name), context.config.operation_mode, facts, rules, dry_run=command.dry_run)
        if isinstance(decision, KeepHead):
            return decision.reason
        context.head_runs[command] = decision
        return None

    def _note(self, context: _Context, text: str) -> None:
        if not context.resumed:
            context.sections.append(text)

    def _execute(self, context: _Context, commands: list[Command], job: Job) -> str:
        planned: list[tuple[Command, list[Step]]] = []
        for command in commands:
            if command.name is CommandName.HELP:
                context.sections.append(
                    answers.help_text(self._services.settings.commands, context.config.operation_mode)
                )
            elif command.name is CommandName.DIFF:
                context.sections.append(self._diff(context, command))
            elif command.name is CommandName.UNLOCK:
                context.sections.append(self._unlock(context, command))
            else:
                planned.append((command, self._plan(context, command)))
        if not planned:
            return f"answered {len(commands)} command(s)"
        resources = {
            Resource(step.environment or "", step.pipeline.name)
            for command, steps in planned
            if not command.dry_run
            for step in steps
        }
        if resources:
            resume = NewJob(pull_request_key(context.event), COMMAND, {**job.payload, "resumed": True})
            lock = self._services.locks.acquire(
                repository_key(context.event.repository),
                context.event.number,
                resources,
                wait_key=f"comment:{context.event.comment_id}",
                then=resume,
            )
            if isinstance(lock, Waiting):
                if context.resumed:
                    context.sections.clear()  # still waiting: said so already
                    return "still waiting for a lock"
                context.sections.append(answers.waiting(lock, context.event.repository.forge))
                return f"waiting for a lock, position {lock.position}"
            assert isinstance(lock, Granted)
        for command, steps in planned:
            context.sections.append(self._run(context, command, steps))
        return f"ran {len(planned)} command(s)"

    def _repository(self, context: _Context) -> CachedRepository:
        if context._repository is None:
            git_env = context.client.git_env(context.event.repository)
            context._repository = self._services.workspace.repository(
                context.event.repository.clone_url, git_env=git_env
            )
        return context._repository

    def _environments(self, context: _Context, command: Command) -> list[str | None]:
        mapped = context.config.environments
        if command.environment is None:
            return mapped
        if mapped != [None] and command.environment not in mapped:
            valid = ", ".join(f"`{name}`" for name in mapped if name)
            msg = f"environment `{command.environment}` is not deployed from `{context.pull.base_ref}`; valid: {valid}"
            raise CommandFailure(msg)
        return [command.environment]

    def _plan(self, context: _Context, command: Command) -> list[Step]:
        """The steps of a cluster-changing command: deploy acts on the head, the others on what is deployed."""
        repository = self._repository(context)
        operation = _OPERATIONS[command.name]
        if operation is Operation.DEPLOY:
            commit = repository.resolve(context.pull.head_sha)
        else:
            commit = repository.resolve(context.pull.base_ref)
        steps: list[Step] = []
        for environment in self._environments(context, command):
            spec = RenderSpec(
                environment, context.config.operation_mode.render_mode, operation, context.config.config_dir
            )
            layout = layout_at(repository, commit, spec)
            if command.pipelines:
                pipelines = select_pipelines(layout, command.pipelines)
            else:  # deploy without names: what the pull request changes or adds
                base = repository.merge_base(repository.resolve(context.pull.base_ref), commit)
                affected = affected_pipelines(
                    layout_at(repository, base, spec), layout, repository.changed_paths(base, commit), environment
                )
                pipelines = [layout.pipelines[name] for name in sorted(affected.changed | affected.added)]
            steps += [Step(operation, pipeline, environment, commit, command.steps) for pipeline in pipelines]
        return steps

    def _run(self, context: _Context, command: Command, steps: list[Step]) -> str:
        config = context.config
        head_run = context.head_runs.get(command)
        operator = Operator(
            self._services,
            self._repository(context),
            config.operation_mode,
            config.config_dir,
            context.masker,
            trusted=head_run is None or head_run.trusted,  # None: the command acts on the base branch
        )
        run_id = f"c{context.event.comment_id}"
        results = operator.run(steps, run_id, execute=not command.dry_run)
        section = f"**`{answers.quoted(command.line)}`**\n\n" + answers.step_results(results, dry_run=command.dry_run)
        if config.operation_mode is OperationMode.MANAGED or command.dry_run:
            return section
        return section + "\n\n" + self._publish(context, command, results)

    def _publish(self, context: _Context, command: Command, results: list[StepResult]) -> str:
        writes = [result.write for result in results if result.ok and result.write is not None]
        if not writes:
            return ""
        event, pull = context.event, context.pull
        target = gitops_target(self._services, context.client, event.repository, pull.base_ref)
        ref = answers.pull_request_ref(event.repository.forge, event.number)
        pipelines = ", ".join(sorted({result.step.pipeline.name for result in results}))
        message = answers.commit_message(
            f"kpops-bot: {command.name} {pipelines} for {ref}",
            [f"Requested by @{event.author} in {pull.url or ref}", f"Command: {command.line}"],
            results[0].step.commit,
        )
        repository = self._repository(context)
        done = publish(target, writes, message, newer_than(repository))
        url = context.client.commit_url(event.repository, done.commit) if done.commit else None
        return answers.published(done, url, f"`{target.branch}`")

    def _diff(self, context: _Context, command: Command) -> str:
        event, config = context.event, context.config
        trusted = context.head_runs[command].trusted
        request = DiffRequest(
            source=event.repository.clone_url,
            base=context.pull.base_ref,
            head=context.pull.head_sha,
            environments=config.environments,
            mode=config.operation_mode.render_mode,
            config_dir=config.config_dir,
            only=command.pipelines,
        )
        report = diff_revisions(
            self._services.workspace,
            self._services.pools.get(trusted=trusted),
            request,
            config.diff_options,
            self._services.cache,
            git_env=context.client.git_env(event.repository),
        )
        if not report.pipelines:
            return f"**`{answers.quoted(command.line)}`**: this pull request affects none of these pipelines."
        body = render_markdown(report, comment_limit(event.repository.forge) - 4_000, max_parts=1)[0]
        lines = [line for line in body.splitlines() if not line.startswith(MARKER)]
        return f"**`{answers.quoted(command.line)}`**\n\n" + "\n".join(lines)

    def _unlock(self, context: _Context, command: Command) -> str:
        event = context.event
        pipelines = None
        if command.pipelines:
            repository = self._repository(context)
            spec = RenderSpec(config_dir=context.config.config_dir)
            layout = layout_at(repository, repository.resolve(context.pull.head_sha), spec)
            pipelines = [pipeline.name for pipeline in select_pipelines(layout, command.pipelines)]
        released = self._services.locks.release(repository_key(event.repository), event.number, pipelines)
        self._services.wake(released.woken)
        if not released.freed:
            return "🔓 This pull request held no lock" + (" on these pipelines." if pipelines else ".")
        listing = ", ".join(f"`{resource}`" for resource in released.freed)
        woken = len(released.woken)
        waiting = f" {woken} waiting comment(s) of other pull requests go on now." if woken else ""
        return f"🔓 Released {listing}.{waiting}"
