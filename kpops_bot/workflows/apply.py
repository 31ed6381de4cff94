"""Apply: a merged pull request (or a push to a deploy branch) puts what it changed into effect.

The affected pipelines are found between the commit before and the merge commit (plus the pull request's own
changes, so a rebase merge of several commits is covered), per environment mapped to the branch, and applied at
the merge commit: managed mode runs `kpops deploy --execute` (changed, added) and `kpops destroy --execute`
(removed, as defined before); manifest and argo mode commit the rendered folders to the GitOps target, removing
the folders of removed pipelines. A pipeline that does not render is reported and left as it was.

Only the job's own failures are answered (a render error, a refused path, an invalid `.kpops-bot.yaml`). A fault of
the bot's surroundings (the git remote or the forge answering 5xx or not at all, a full disk, the database) is
not: the apply is retried until it can be done (`retrying.py`). Answers written before that rule told a git
remote's 5xx as "Nothing was applied"; such an answer does not count as the merge's (`_told_a_fault`), so the
merge delivered again is applied.

One merge, one apply. A merge to a branch in `apply.push_branches` is delivered twice (the merge event and the push),
maybe more (a redelivery, a second replica's intake): every apply is of its source commit, and both triggers are
keyed by the branch (`jobs.branch_key`), so they run one after the other on any replica. The commit's final
`kpops-bot` status is the record that it was applied (`_applied_before`): the second trigger finds it, applies
nothing (managed mode runs kpops once) and only finishes what is missing: the merge's answer on the pull request
and its locks when the push came first; nothing when the merge came first (its status is the push's too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kpops_bot.engine import UnknownPipelineError
from kpops_bot.events.model import PullRequestEvent, PushEvent, Repository
from kpops_bot.fault_causes import git_text_fault, raise_if_transient, transient_faults
from kpops_bot.forges.base import Comment, CommitState, CommitStatus, ForgeClient
from kpops_bot.gitops.own_commits import is_own_push
from kpops_bot.gitops.publish import PublishError
from kpops_bot.jobs import Job
from kpops_bot.repo_config import Effective, InvalidRepoConfigError
from kpops_bot.report import answers, notices
from kpops_bot.report.escape import composed
from kpops_bot.report.identity import answer_line, answer_of, with_answer_line
from kpops_bot.settings import BotSettings, OperationMode
from kpops_bot.workflows import once
from kpops_bot.workflows.lookups import gitops_target, repository_settings
from kpops_bot.workflows.operate import StepResult
from kpops_bot.workflows.ports import ForgeFor, LockBook, OpenRepository
from kpops_bot.workflows.publishing import Linked, commit_message, publish
from kpops_bot.workflows.release import release_and_mark_outdated
from kpops_bot.workflows.retrying import is_retry, retried_on_fault
from kpops_bot.workspace import WorkspaceError

_APPLIED, _FAILED = "ok", "failed"  # the outcome an answer's marker records
# The final status of an apply: the record that its commit was applied, whichever trigger finds it.
_APPLIED_STATUS, _FAILED_STATUS, _FAILED_MERGE_STATUS = "Applied", "Apply failed", "Apply failed: see the pull request"
# The line of an answer of kpops-bot before faults were retried that told a git failure (its cause after the URL).
_GIT_FAILURE_TOLD = re.compile(r"^❌ Nothing was applied: cannot (?:fetch|clone|push to) .*$", re.MULTILINE)
Applied = PullRequestEvent | PushEvent  # a merge, or a push to a deploy branch


@dataclass(frozen=True)
class _Change:
    """What is applied: the repository, the branch, the commit, and (for a merge) the pull request."""

    repository: Repository
    branch: str
    commit: str
    before: str | None  # the branch's commit before the change; None: the merge commit's first parent
    number: int | None = None
    head_sha: str | None = None


class ApplyWorkflow:
    def __init__(
        self, settings: BotSettings, forges: ForgeFor, open_repository: OpenRepository, locks: LockBook
    ) -> None:
        self._settings = settings
        self._forges = forges
        self._open_repository = open_repository
        self._locks = locks

    def _change(self, job: Job[Applied], client: ForgeClient) -> _Change:
        event = job.payload
        if isinstance(event, PushEvent):
            assert event.branch is not None  # routing queues pushes of branches only
            return _Change(event.repository, event.branch, event.after, event.before)
        merge_commit = event.merge_commit_sha
        if merge_commit is None:  # GitLab leaves it out for fast-forward merges; the forge knows
            merge_commit = client.pull_request(event.repository, event.number).merge_commit_sha or event.head_sha
        return _Change(event.repository, event.base_ref, merge_commit, None, event.number, event.head_sha)

    def run(self, job: Job[Applied]) -> str:
        client = self._forges(job.payload.repository.forge)
        with transient_faults():
            change = self._change(job, client)
        with retried_on_fault(client, change.repository, change.commit):
            return self._run(job, client, change)

    def _run(self, job: Job[Applied], client: ForgeClient, change: _Change) -> str:
        if change.number is None and self._is_own_push(client, change):
            return "the bot's own commit is not applied again"
        if change.number is not None:  # a retry, or the same merge delivered again: finish, apply nothing
            found = _earlier_answer(client, change)
            if found is not None:
                answer, outcome = found
                self._finish(client, change, outcome == _APPLIED, answer.url)
                return "answered by an earlier attempt"
        earlier = _applied_before(client, change)
        if earlier is not None:
            return self._applied_by_the_other_trigger(client, change, earlier)
        try:
            config = repository_settings(self._settings, client, change.repository, change.commit, change.branch)
        except InvalidRepoConfigError as error:
            return self._report(
                client, change, False, [f"❌ Nothing was applied: {composed(str(error))}"], "invalid config"
            )
        applying = "Applying the changed pipelines"
        once.pending(client, change.repository, change.commit, applying, retry=is_retry(job))
        try:
            results, gitops = self._apply(client, change, config)
        except (WorkspaceError, PublishError, UnknownPipelineError) as error:  # a name clash is the repository's
            raise_if_transient(error)
            reason = self._settings.secrets_masker().mask_text(str(error))
            return self._report(client, change, False, [f"❌ Nothing was applied: {composed(reason)}"], "apply failed")
        ok = all(result.ok for result in results)
        # What changed says it; the manifests in full stay in the GitOps commit.
        lines = [replace(result.line(), detail="") if result.write else result.line() for result in results]
        sections = [answers.step_results(lines) if results else "No pipeline changed: nothing to apply."]
        sections += [section for section in gitops if section]
        failed = sum(not result.ok for result in results)
        return self._report(client, change, ok, sections, f"{len(results)} step(s), {failed} failed")

    def _is_own_push(self, client: ForgeClient, change: _Change) -> bool:
        """A push of the bot's own GitOps commit, as git tells it (`gitops/own_commits.py`)."""
        if change.before is None:
            return False
        target = gitops_target(self._settings, client, change.repository, change.branch)
        try:
            pushed = self._open_repository(change.repository, client).pushed(change.before, change.commit)
        except WorkspaceError:  # `before` is gone (a forced push): the bot only fast-forwards, so not its own
            return False
        return is_own_push(pushed, target, change.repository.clone_url, change.branch, self._settings.gitops.path)

    def _applied_by_the_other_trigger(self, client: ForgeClient, change: _Change, status: CommitStatus) -> str:
        """The commit was applied by its other trigger: the merge's answer (when this is the merge) says so, and
        the pull request's locks go; the status stands as that apply wrote it."""
        if change.number is None:
            return "applied by its merge already"
        ok = status.state is CommitState.SUCCESS
        section = answers.applied_by_push(change.branch, change.commit, ok)
        title = f"applied `{change.commit[:12]}`" if ok else f"apply of `{change.commit[:12]}` failed"
        body = answers.answer(title, [section])
        client.create_comment(change.repository, change.number, with_answer_line(_identity(change), body, _outcome(ok)))
        self._release(client, change)
        return "applied by its push already"

    def _apply(
        self, client: ForgeClient, change: _Change, config: Effective
    ) -> tuple[list[StepResult], tuple[str, ...]]:
        """The results, and in the GitOps modes what changed per pipeline and the commit's line."""
        deployment = self._open_repository(change.repository, client)
        commit = deployment.resolve(change.commit)
        steps = deployment.change_steps(change.before, commit, change.head_sha, config)
        masker = self._settings.secrets_masker()
        results = deployment.run(steps, config, masker, run_id=commit[:10])
        if config.operation_mode is OperationMode.MANAGED:
            return results, ()
        message = self._message(change, commit, results)
        line, linked = publish(self._settings, client, change.repository, deployment, change.branch, results, message)
        return results, (_what_changed(results, linked), line)

    def _message(self, change: _Change, commit: str, results: list[StepResult]) -> str:
        forge = change.repository.forge
        what = (
            answers.pull_request_ref(forge, change.number) if change.number is not None else f"push to {change.branch}"
        )
        lines = [
            f"Applied from {change.repository.full_name} {what}, merge commit {commit}.",
            "",
            *(
                f"- {result.step.pipeline.name} ({result.step.environment or 'default'}): {result.step.operation}"
                for result in results
                if result.ok and result.write is not None
            ),
        ]
        return commit_message(f"kpops-bot: apply {what} ({commit[:12]})", lines, commit)

    def _report(self, client: ForgeClient, change: _Change, ok: bool, sections: list[str], outcome: str) -> str:
        title = f"applied `{change.commit[:12]}`" if ok else f"apply of `{change.commit[:12]}` failed"
        link = None
        if change.number is not None:
            identity = _identity(change)
            room = client.comment_limit - len(answer_line(identity, _APPLIED)) - 1
            body = answers.fit(answers.answer(title, sections), room)
            marked = with_answer_line(identity, body, _outcome(ok))
            link = client.create_comment(change.repository, change.number, marked).url
        self._finish(client, change, ok, link)
        return outcome

    def _finish(self, client: ForgeClient, change: _Change, ok: bool, link: str | None) -> None:
        """What follows the answer: locks released, the final status (each written only when missing)."""
        if change.number is not None:
            self._release(client, change)
        description = _APPLIED_STATUS if ok else _FAILED_MERGE_STATUS if change.number else _FAILED_STATUS
        state = CommitState.SUCCESS if ok else CommitState.FAILURE
        client.set_status(change.repository, change.commit, state, description, link)

    def _release(self, client: ForgeClient, change: _Change) -> None:
        assert change.number is not None
        why = notices.merged_applied(change.commit)
        release_and_mark_outdated(client, self._locks, change.repository, change.number, why)

    def give_up(self, job: Job[Applied], error: BaseException) -> None:
        """The error status, unless an attempt answered already (then the answer's outcome stands)."""
        client = self._forges(job.payload.repository.forge)
        change = self._change(job, client)
        if change.number is not None:
            found = _earlier_answer(client, change)
            if found is not None:
                self._finish(client, change, found[1] == _APPLIED, found[0].url)
                return
        client.set_status(
            change.repository, change.commit, CommitState.ERROR, f"kpops-bot failed (job {job.id}); see its log"
        )
        if change.number is not None:
            self._release(client, change)


def _what_changed(results: list[StepResult], linked: Linked | None) -> str:
    """Per pipeline written, its resources added, changed and removed in the GitOps target, and the commit."""
    if linked is None:
        return ""
    rows = [
        answers.ChangeRow(
            result.step.pipeline.name, result.step.environment, counts.added, counts.changed, counts.removed
        )
        for result in results
        if result.ok
        and result.write is not None
        and (counts := linked.published.changes.get(result.write.folder)) is not None
    ]
    return answers.what_changed(rows, linked.published.commit, linked.url)


def _outcome(ok: bool) -> str:
    return _APPLIED if ok else _FAILED


def _applied_before(client: ForgeClient, change: _Change) -> CommitStatus | None:
    """The final status an apply of this commit wrote, or None. A merge's failure status does not count for the
    merge itself: its own answer was looked for first, and one that told a fault is applied again."""
    status = client.status(change.repository, change.commit)
    if status is None:
        return None
    if status.state is CommitState.SUCCESS and status.description == _APPLIED_STATUS:
        return status
    failures = {_FAILED_STATUS} if change.number is not None else {_FAILED_STATUS, _FAILED_MERGE_STATUS}
    return status if status.state is CommitState.FAILURE and status.description in failures else None


def _identity(change: _Change) -> str:
    """An apply is of a commit: a merge delivered twice (a new delivery id) finds the first one's answer."""
    return f"apply:{change.commit}"


def _earlier_answer(client: ForgeClient, change: _Change) -> tuple[Comment, str] | None:
    """The answer to this apply and the outcome it records, as `once.find_answer` finds it, except an answer that
    told a fault of the surroundings (`_told_a_fault`): None, and the merge is applied."""
    assert change.number is not None
    bot, identity = client.bot_name(), _identity(change)
    for comment in client.comments(change.repository, change.number):
        marked = answer_of(comment.body) if comment.author == bot else None
        if marked is not None and marked[0] == identity and not _told_a_fault(comment.body, marked[1]):
            return comment, marked[1]
    return None


def _told_a_fault(body: str, outcome: str) -> bool:
    """An answer of a kpops-bot before faults were retried that failed the apply for a git remote's 5xx or
    unreachability or a full disk ("❌ Nothing was applied: cannot fetch URL: ... returned error: 502"). The bot
    never writes such an answer now: a transient failure is retried, not answered."""
    told = _GIT_FAILURE_TOLD.search(body) if outcome == _FAILED else None
    return told is not None and git_text_fault(told.group(0)) is not None
