"""What the bot writes in a thread about commands and applies. Pure: plain data in, markdown out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.commands.authorize import CommandPolicy
from kpops_bot.commands.catalog import CommandName
from kpops_bot.escape import cell_code, code, composed, html_text, quoted, text
from kpops_bot.events.model import Forge
from kpops_bot.model.kinds import OperationMode
from kpops_bot.report.identity import answer_line, with_answer_line
from kpops_bot.text import shorten

_MODE = {
    OperationMode.MANAGED: "kpops runs the command against the cluster with `--execute`",
    OperationMode.MANIFEST: "the command's manifests are committed to the GitOps repository, which deploys them",
    OperationMode.ARGO: "the command's manifests (Argo CD flavour) are committed to the GitOps repository",
}
SYMBOL = {True: "✅", False: "❌"}
_CUT_NOTE = "\n\n… (cut here: the answer is longer than one comment may be)"


@dataclass(frozen=True)
class ModeNotLookedUp:
    """Help answered without reading the repository's `.kpops-bot.yaml`: every mode is told, and the bot's default."""

    default: OperationMode


@dataclass(frozen=True)
class StepLine:
    """One row of a results table: what ran on which pipeline, and how it went."""

    ok: bool
    pipeline: str
    environment: str | None
    operation: str
    commit: str
    summary: str  # one line of markdown, masked; foreign names in code spans (`escape.code`)
    detail: str = ""  # kpops' output or the manifests, masked, in fenced blocks (`escape.fenced`)
    not_applied: Sequence[str] = ()  # per component the mode does not put into effect: why


@dataclass(frozen=True)
class LockLine:
    """Where a comment waits: what others hold (resource → pull request), who is ahead, its place in line."""

    position: int
    held_by: Sequence[tuple[str, int]]
    ahead: Sequence[int]


def help_text(policy: CommandPolicy, mode: OperationMode | ModeNotLookedUp) -> str:
    rows = "\n".join(f"| `{name}` | {policy.role(name).value} | {name.declared.purpose} |" for name in CommandName)
    requirements = []
    if policy.require_approval:
        requirements.append("approval before " + ", ".join(f"`{name}`" for name in policy.require_approval))
    if policy.require_mergeable:
        requirements.append("a mergeable pull request before " + ", ".join(f"`{n}`" for n in policy.require_mergeable))
    needs = f"\n\nThis repository also requires {' and '.join(requirements)}." if requirements else ""
    return (
        "One command per line:\n\n```\n/kpops <command> [pipeline ...] [--steps a,b] [--environment E] [--dry-run]\n```"
        "\n\nPipelines are named as kpops names them (`word-count`, `team-a-orders`) or by their folder.\n\n"
        f"| command | needs | does |\n|---|---|---|\n{rows}\n\n{_modes(mode)} `--dry-run` only shows what would be "
        f"done. A pipeline a pull request acted on stays locked for it until it is merged or closed, or "
        f"`/kpops unlock`; other pull requests' commands wait in line.{needs}"
    )


def _modes(mode: OperationMode | ModeNotLookedUp) -> str:
    if isinstance(mode, OperationMode):
        return f"This repository runs commands in `{mode}` mode: {_MODE[mode]}."
    each = "; ".join(f"in `{name}` mode {what}" for name, what in _MODE.items())
    return (
        f"What a command does depends on the repository's mode (`operation_mode` in its `.kpops-bot.yaml`, "
        f"`{mode.default}` when it sets none): {each}."
    )


@dataclass(frozen=True)
class Answer:
    """An answer in a thread: its title and its sections, one per command or outcome."""

    title: str
    sections: Sequence[str]


def answer(title: str, sections: Sequence[str]) -> str:
    return f"#### kpops-bot: {title}\n\n" + "\n\n".join(section.strip() for section in sections if section.strip())


def fit(body: str, limit: int) -> str:
    """The answer cut to what one comment may hold (the folded details at the end go first)."""
    return shorten(body, limit, _CUT_NOTE)


def marked(reply: Answer, identity: str, limit: int, outcome: str = "") -> str:
    """The answer as it is posted: under its marker line (`identity`, whole), the text cut so both fit `limit`."""
    room = limit - len(answer_line(identity, outcome)) - 1
    return with_answer_line(identity, fit(answer(reply.title, reply.sections), room), outcome)


def title(lines: Sequence[str]) -> str:
    """The title of a comment's answer: the command lines it answers."""
    return ", ".join(quoted(line) for line in lines) if lines else "command"


def rejected(line: str, reason: str) -> str:
    """A line that is not a command, and why; a reason alone when no line is at fault (the comment as a whole)."""
    return f"❌ {quoted(line)}: {reason}" if line else f"❌ {reason}"


def refused(line: str, why: str) -> str:
    return f"🚫 {quoted(line)}: {why}"


def policy_refused(line: str, refusal: str) -> str:
    """A deploy the policies refused: the command, then the denials (`report/policy_verdict.py`)."""
    return f"**{quoted(line)}**\n\n{refusal}"


def this_pull_request(forge: Forge) -> str:
    return "this merge request" if forge is Forge.GITLAB else "this pull request"


def repository_config_at(file_name: str, ref: str) -> str:
    """The repository's `.kpops-bot.yaml` at a branch, as a failed lookup names it."""
    return f"`{file_name}` at {code(ref)}"


def permission_of(user: str) -> str:
    return f"the permission of {code(user)}"


def lookup_failed(what: str, reason: str) -> Answer:
    """A lookup the commands need failed for good (the forge down or too slow): nothing ran; what, and why."""
    return Answer(
        "command not run",
        [f"❌ The bot could not read {what} from the forge ({composed(reason)}); nothing ran. Comment again to retry."],
    )


def invalid_config(message: str) -> Answer:
    """The repository's `.kpops-bot.yaml` cannot be used: nothing ran; what is wrong with it."""
    return Answer("command not run", [composed(message)])


def command_failed(job_id: int) -> Answer:
    return Answer(
        "command failed",
        [
            f"The bot could not run this comment's commands (job {job_id}); its log has the cause. "
            "Comment again to retry."
        ],
    )


def failed(message: str) -> str:
    """An error its author can act on (an unknown pipeline, a bad environment), masked: it ended the comment."""
    return f"❌ {composed(message)}"


def diff_of(line: str, report: str | None) -> str:
    """`/kpops diff`'s section: the report without its marker, or that nothing named is affected (None)."""
    if report is None:
        return f"**{quoted(line)}**: this pull request affects none of these pipelines."
    return f"**{quoted(line)}**\n\n{report}"


def ran(line: str, results: Sequence[StepLine], *, dry_run: bool, base: tuple[str, str] | None, published: str) -> str:
    """A command's section: what ran; `base`: the branch and commit it acted on when not the head; `published`: its
    GitOps commit's line (empty when nothing was committed)."""
    where = f"{acted_on_base(*base)}\n\n" if base is not None else ""
    section = f"**{quoted(line)}**\n\n{where}{step_results(results, dry_run=dry_run)}"
    return f"{section}\n\n{published}" if published else section


def not_deployed_from(environment: str, branch: str, valid: Sequence[str]) -> str:
    """Why a command's `--environment` is refused: the base branch does not deploy it; which ones it does."""
    names = ", ".join(code(name) for name in valid)
    return f"environment {code(environment)} is not deployed from {code(branch)}; valid: {names}"


def unlocked(freed: Sequence[str], woken: int, *, named: bool) -> str:
    """What `/kpops unlock` released (`named`: of the pipelines named), and how many waiting comments go on."""
    if not freed:
        return "🔓 This pull request held no lock" + (" on these pipelines." if named else ".")
    listing = ", ".join(code(resource) for resource in freed)
    waiting = f" {woken} waiting comment(s) of other pull requests go on now." if woken else ""
    return f"🔓 Released {listing}.{waiting}"


def pull_request_ref(forge: Forge, number: int) -> str:
    """`#12` on GitHub, `!12` on GitLab, as each forge links them."""
    return f"{'#' if forge is Forge.GITHUB else '!'}{number}"


def waiting(state: LockLine, forge: Forge) -> str:
    held = ", ".join(f"{code(resource)} by {pull_request_ref(forge, holder)}" for resource, holder in state.held_by)
    ahead = ", ".join(pull_request_ref(forge, number) for number in state.ahead)
    reasons = [f"held: {held}" if held else "", f"waiting before you: {ahead}" if ahead else ""]
    return (
        f"⏳ Waiting for a lock ({'; '.join(reason for reason in reasons if reason)}). This comment is number "
        f"{state.position} in line and runs by itself when its pipelines are released (merge, close or "
        "`/kpops unlock` of the pull request holding them); nothing has run yet."
    )


def step_results(results: Sequence[StepLine], *, dry_run: bool = False) -> str:
    if not results:
        return "Nothing to do: no pipeline matched."
    rows = "\n".join(
        f"| {SYMBOL[result.ok]} | {cell_code(result.pipeline)} | {text(result.environment or 'default')} | "
        f"{result.operation} | `{result.commit[:12]}` | {composed(result.summary, cell=True)} |"
        for result in results
    )
    note = "\n\n**Dry run**: nothing was executed or committed." if dry_run else ""
    details = "\n".join(
        f"<details><summary>{html_text(result.pipeline)} ({html_text(result.environment or 'default')})</summary>\n\n"
        f"{result.detail}\n</details>"
        for result in results
        if result.detail
    )
    header = "| | pipeline | environment | operation | at | result |\n|---|---|---|---|---|---|"
    return f"{header}\n{rows}{note}{not_applied(results)}\n\n{details}"


def not_applied(results: Sequence[StepLine]) -> str:
    """What the mode did not put into effect, per pipeline and component, and why; empty when everything was."""
    lines = [
        f"- ⏸️ {code(result.pipeline)} ({text(result.environment or 'default')}): {composed(reason)}"
        for result in results
        for reason in result.not_applied
    ]
    return "\n\n**Not applied**:\n\n" + "\n".join(lines) if lines else ""


def published(
    commit: str | None,
    commit_url: str | None,
    target: str,
    kept_newer: Sequence[str] = (),
    removed_jobs: Sequence[str] = (),
) -> str:
    """What a GitOps commit did: its link, or that nothing was new; folders a newer apply owns are named, and the
    one-off Jobs whose files left with it."""
    if commit is None:
        note = "the GitOps target already had all of it: no new commit"
    else:
        note = f"committed [`{commit[:12]}`]({commit_url}) to {code(target)}"
    kept = ""
    if kept_newer:
        folders = ", ".join(code(f"{folder}/") for folder in kept_newer)
        kept = f" Left as they are, because a newer commit was applied there already: {folders}."
    removed = ""
    if removed_jobs:
        files = ", ".join(code(path) for path in removed_jobs)
        removed = f" Removed one-off jobs past their retention: {files}."
    return f"GitOps: {note}.{kept}{removed}"


def head_moved(command: str, bound: str, live: str) -> str:
    """Why a command written on one head does not run another: both commits, and how to run the new one."""
    return (
        f"the head moved from {code(bound[:7])} to {code(live[:7])} after your comment; comment again to {command} "
        f"{code(live[:7])}"
    )


def acted_on_base(branch: str, commit: str) -> str:
    """The base commit a command that acts on what is deployed (reset, clean, destroy) used."""
    return f"On {code(branch)} at {code(commit[:12])} (the base branch, not this pull request's head)."


def apply_title(commit: str, ok: bool) -> str:
    return f"applied `{commit[:12]}`" if ok else f"apply of `{commit[:12]}` failed"


def nothing_applied(reason: str) -> str:
    """Why an apply put nothing into effect (a repository's invalid config, a failed render or push), masked."""
    return f"❌ Nothing was applied: {composed(reason)}"


def apply_results(results: Sequence[StepLine]) -> str:
    return step_results(results) if results else "No pipeline changed: nothing to apply."


def applied_by_push(branch: str, commit: str, ok: bool) -> str:
    """The answer of a merge whose push to a deploy branch was applied first: what happened, and that once."""
    outcome = "applied" if ok else "failed to apply"
    return (
        f"The push of this merge to {code(branch)} (`apply.push_branches`) {outcome} {code(commit[:12])} before the "
        f"merge event was handled; nothing was applied twice. The commit's `kpops-bot` status has the result."
    )


@dataclass(frozen=True)
class ChangeRow:
    """One pipeline's resources in the GitOps target after an apply: how many were added, changed and removed."""

    pipeline: str
    environment: str | None
    added: int
    changed: int
    removed: int


def what_changed(rows: Sequence[ChangeRow], commit: str | None, commit_url: str | None) -> str:
    """An apply's change per pipeline, counted by resource as the preview counts them; the manifests in full stay
    in the commit it links."""
    if not rows:
        return ""
    where = f"; the manifests in full are in [`{commit[:12]}`]({commit_url})" if commit else " (none was new)"
    table = "\n".join(
        f"| {cell_code(row.pipeline)} | {cell_code(row.environment or 'default')} | {row.added} | {row.changed} "
        f"| {row.removed} |"
        for row in rows
    )
    header = "| pipeline | environment | added | changed | removed |\n|---|---|---|---|---|"
    return f"**Resources changed per pipeline**{where}:\n\n{header}\n{table}"
