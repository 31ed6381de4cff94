"""`/kpops diff [pipeline ...]`: the dry-run diff of the named pipelines (all the pull request affects), as a reply."""

from __future__ import annotations

from kpops_bot.commands.parse import Command
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.report import answers
from kpops_bot.report.identity import strip_marker
from kpops_bot.report.markdown import render_markdown
from kpops_bot.workflows.commands.authorization import Accepted
from kpops_bot.workflows.commands.context import Answered, CommandContext
from kpops_bot.workflows.waiting import borrowed_status

# Room the reply keeps for the answer's title and the other commands' sections.
_ROOM_FOR_OTHERS = 4_000


class DiffCommand:
    def plan(self, context: CommandContext, accepted: Accepted) -> Answered:
        assert accepted.head is not None  # diff runs the head (`catalog`): authorization decided how
        return Answered(self._diff(context, accepted.command, accepted.head.trusted))

    def _diff(self, context: CommandContext, command: Command, trusted: bool) -> str:
        event, config = context.event, context.config
        request = DiffRequest(
            source=event.repository.clone_url,
            base=context.pull.base_ref,
            head=context.pull.head_sha,
            environments=config.environments,
            mode=config.operation_mode.render_mode,
            config_dir=config.config_dir,
            only=command.pipelines,
        )
        git_env = context.client.git_env(event.repository)
        with borrowed_status(context.client, event.repository, context.pull.head_sha) as waiting:
            report = context.collaborators.diff(
                request, config.diff_options, trusted=trusted, git_env=git_env, on_wait=waiting
            )
        if not report.pipelines:
            return answers.diff_of(command.line, None)
        body = render_markdown(report, context.client.comment_limit - _ROOM_FOR_OTHERS, max_parts=1)[0]
        return answers.diff_of(command.line, strip_marker(body))
