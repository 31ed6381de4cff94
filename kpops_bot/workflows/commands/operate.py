"""`/kpops deploy|reset|clean|destroy [pipeline ...]`: act on pipelines in the repository's mode, then answer.

Deploy acts on the pull request's head, the others on the base branch (what is deployed). In manifest and argo mode
the rendered folders are committed to the GitOps target. One-off jobs are named after the comment, so a retried
job writes the same files and the target gets no second commit.
"""

from __future__ import annotations

from functools import partial

from kpops_bot.commands.catalog import CommandName
from kpops_bot.commands.parse import Command
from kpops_bot.head_code import RunHead
from kpops_bot.model.policy import PolicyRevision, PullRequestFacts
from kpops_bot.model.render import Operation
from kpops_bot.policy.verdict import Cleared
from kpops_bot.report import answers, commits, policy_verdict
from kpops_bot.settings import OperationMode
from kpops_bot.workflows import policy_gate as gate
from kpops_bot.workflows.commands.authorization import Accepted
from kpops_bot.workflows.commands.context import Acting, Answered, CommandContext, CommandFailure
from kpops_bot.workflows.publishing import commit_message, publish
from kpops_bot.workflows.steps import Step, StepResult

_OPERATIONS = {
    CommandName.DEPLOY: Operation.DEPLOY,
    CommandName.RESET: Operation.RESET,
    CommandName.CLEAN: Operation.CLEAN,
    CommandName.DESTROY: Operation.DESTROY,
}


class OperateCommand:
    def plan(self, context: CommandContext, accepted: Accepted) -> Answered | Acting:
        command = accepted.command
        steps = context.repository.command_steps(
            _OPERATIONS[command.name],
            command.pipelines,
            _environments(context, command),
            context.pull,
            context.config,
            command.steps,
        )
        if command.name is CommandName.DEPLOY and not command.dry_run:  # judged as its preview, before any lock
            verdict = gate.judge(_dry_run(context, accepted.head), _deployed(context, steps), context.config)
            if not isinstance(verdict, Cleared):
                refusal = policy_verdict.refusal(verdict, "nothing was deployed")
                return Answered(answers.policy_refused(command.line, refusal))
        return Acting(steps, partial(self._run, context, command, accepted.head, steps))

    def _run(self, context: CommandContext, command: Command, head_run: RunHead | None, steps: list[Step]) -> str:
        """`head_run`: how the head runs; None: the command acts on the base branch."""
        config = context.config
        run_id = f"c{context.event.comment_id}"
        trusted = head_run is None or head_run.trusted
        results = context.repository.run(
            steps, config, context.masker, run_id, execute=not command.dry_run, trusted=trusted
        )
        lines = [result.line() for result in results]
        base = (context.pull.base_ref, steps[0].commit) if head_run is None and steps else None  # which commit of it
        published = ""
        if config.operation_mode is not OperationMode.MANAGED and not command.dry_run:
            published = self._publish(context, command, results)
        return answers.ran(command.line, lines, dry_run=command.dry_run, base=base, published=published)

    def _publish(self, context: CommandContext, command: Command, results: list[StepResult]) -> str:
        event, pull = context.event, context.pull
        pipelines = sorted({result.step.pipeline.name for result in results})
        forge = event.repository.forge
        text = commits.commanded(command.name, pipelines, forge, event.number, event.author, pull.url, command.line)
        source = results[0].step.commit if results else ""
        message = commit_message(text.summary, text.lines, source)
        line, _ = publish(
            context.collaborators.settings,
            context.client,
            event.repository,
            context.repository,
            pull.base_ref,
            results,
            message,
        )
        return line


def _dry_run(context: CommandContext, head_run: RunHead | None) -> gate.DryRun:
    """The preview's dry run, with the trust the head decision gave the deploy."""
    client, repository = context.client, context.event.repository
    trusted = head_run is None or head_run.trusted
    return partial(context.collaborators.diff, trusted=trusted, git_env=client.git_env(repository))


def _deployed(context: CommandContext, steps: list[Step]) -> gate.ActedOn:
    pull = context.pull
    facts = PullRequestFacts(number=pull.number, labels=pull.labels, author=pull.author, target_branch=pull.base_ref)
    return gate.ActedOn(
        source=context.event.repository.clone_url,
        base=pull.base_ref,
        commit=pull.head_sha,
        pipelines=[(step.pipeline.name, step.environment) for step in steps],
        policies_at=PolicyRevision.MERGE_BASE,  # as the preview: the pull request cannot weaken its rules
        pull_request=facts,  # the forge's pull request, looked up for the comment: its labels now
    )


def _environments(context: CommandContext, command: Command) -> list[str | None]:
    mapped = context.config.environments
    if command.environment is None:
        return mapped
    if mapped != [None] and command.environment not in mapped:
        valid = [name for name in mapped if name]
        raise CommandFailure(answers.not_deployed_from(command.environment, context.pull.base_ref, valid))
    return [command.environment]
