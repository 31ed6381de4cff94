"""`/kpops unlock [pipeline ...]`: release this pull request's locks (the named pipelines only, when given)."""

from __future__ import annotations

from kpops_bot.commands.parse import Command
from kpops_bot.escape import code
from kpops_bot.jobs import repository_key
from kpops_bot.workflows.commands.context import Answered, CommandContext


class UnlockCommand:
    def plan(self, context: CommandContext, command: Command) -> Answered:
        return Answered(self._unlock(context, command))

    def _unlock(self, context: CommandContext, command: Command) -> str:
        event = context.event
        pipelines = None
        if command.pipelines:
            pipelines = context.repository.pipeline_names(
                context.pull.head_sha, command.pipelines, context.config.config_dir
            )
        released = context.collaborators.locks.release(repository_key(event.repository), event.number, pipelines)
        if not released.freed:
            return "🔓 This pull request held no lock" + (" on these pipelines." if pipelines else ".")
        listing = ", ".join(code(str(resource)) for resource in released.freed)
        woken = len(released.woken)
        waiting = f" {woken} waiting comment(s) of other pull requests go on now." if woken else ""
        return f"🔓 Released {listing}.{waiting}"
