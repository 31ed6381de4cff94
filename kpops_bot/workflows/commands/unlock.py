"""`/kpops unlock [pipeline ...]`: release this pull request's locks (the named pipelines only, when given)."""

from __future__ import annotations

from kpops_bot.commands.parse import Command
from kpops_bot.jobs import repository_key
from kpops_bot.report import answers
from kpops_bot.workflows.commands.authorization import Accepted
from kpops_bot.workflows.commands.context import Answered, CommandContext


class UnlockCommand:
    def plan(self, context: CommandContext, accepted: Accepted) -> Answered:
        return Answered(self._unlock(context, accepted.command))

    def _unlock(self, context: CommandContext, command: Command) -> str:
        event = context.event
        pipelines = None
        if command.pipelines:
            pipelines = context.repository.pipeline_names(
                context.pull.head_sha, command.pipelines, context.config.config_dir
            )
        released = context.collaborators.locks.release(repository_key(event.repository), event.number, pipelines)
        freed = [str(resource) for resource in released.freed]
        return answers.unlocked(freed, len(released.woken), named=bool(pipelines))
