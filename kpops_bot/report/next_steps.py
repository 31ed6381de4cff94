"""The commands a reviewer can comment next on a pull request, as the footer of its report lists them.

Who comments is not known when the report is written, so every command that applies to the change is listed with
the least permission the repository's settings give it (and whether it waits for an approval): `diff` always,
`deploy` (dry run first) when a pipeline is changed or added, `reset` of the changed pipelines and `destroy` of the
removed ones; the footer adds `help`, which says what each does in the repository's mode.
"""

from __future__ import annotations

from collections.abc import Sequence

from kpops_bot.commands.authorize import CommandPolicy
from kpops_bot.commands.catalog import CommandName
from kpops_bot.diff.model import DiffReport, PipelineDiff, Status
from kpops_bot.report.markdown import NextCommand

_NAMED = 3  # pipelines named in one suggested command; more would make the line unreadable


def next_commands(report: DiffReport, policy: CommandPolicy) -> list[NextCommand]:
    def suggest(name: CommandName, arguments: str = "") -> NextCommand:
        approval = ", on an approved pull request" if name in policy.require_approval else ""
        return NextCommand(f"/kpops {name.value}{arguments}", f"{policy.role(name).value}{approval}")

    suggested = [suggest(CommandName.DIFF)]
    if _names(report.pipelines, Status.CHANGED, Status.ADDED):
        suggested += [suggest(CommandName.DEPLOY, " --dry-run"), suggest(CommandName.DEPLOY)]
    changed = _names(report.pipelines, Status.CHANGED)
    if changed:
        suggested.append(suggest(CommandName.RESET, _arguments(changed)))
    removed = _names(report.pipelines, Status.REMOVED)
    if removed:
        suggested.append(suggest(CommandName.DESTROY, _arguments(removed)))
    return suggested


def _names(pipelines: Sequence[PipelineDiff], *statuses: Status) -> list[str]:
    return list(dict.fromkeys(pipeline.name for pipeline in pipelines if pipeline.status in statuses))


def _arguments(names: Sequence[str]) -> str:
    return " " + " ".join(names[:_NAMED])
