"""`/kpops help`: the commands, who may run them, and what they do in this repository's mode."""

from __future__ import annotations

from kpops_bot.report import answers
from kpops_bot.workflows.commands.authorization import Accepted
from kpops_bot.workflows.commands.context import Answered, CommandContext


class HelpCommand:
    def plan(self, context: CommandContext, accepted: Accepted) -> Answered:
        return Answered(answers.help_text(context.collaborators.settings.commands, context.config.operation_mode))
