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
from functools import partial

from kpops_bot.engine.targets import UnknownPipelineError
from kpops_bot.events.model import PullRequestEvent, PushEvent, Repository
from kpops_bot.fault_causes import git_text_fault, raise_if_transient, transient_faults
from kpops_bot.gitops.own_commits import is_own_push
from kpops_bot.gitops.publish import PublishError
from kpops_bot.jobs import Job
from kpops_bot.model.forge import Comment, CommitState, CommitStatus, ForgeClient
from kpops_bot.model.policy import PolicyRevision, PullRequestFacts
from kpops_bot.policy.verdict import Cleared, Refused, Unjudged
from kpops_bot.repo_config import Effective, InvalidRepoConfigError
from kpops_bot.report import answers, commits, notices, policy_verdict, statuses
from kpops_bot.report.identity import answer_of
from kpops_bot.settings import BotSettings, OperationMode
from kpops_bot.workflows import once
from kpops_bot.workflows import policy_gate as gate
from kpops_bot.workflows.lookups import gitops_target, pull_request_facts, repository_settings
from kpops_bot.workflows.ports import DiffRunner, ForgeFor, LockBook, OpenRepository
from kpops_bot.workflows.publishing import Linked, commit_message, publish
from kpops_bot.workflows.release import release_and_mark_outdated
from kpops_bot.workflows.retrying import is_retry, retried_on_fault
from kpops_bot.workflows.steps import Step, StepResult
from kpops_bot.workspace import WorkspaceError

_APPLIED, _FAILED = "ok", "failed"  # the outcome an answer's marker records
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
    facts: PullRequestFacts | None = None  # what the policies know of the merged pull request


class ApplyWorkflow:
    def __init__(
        self,
        settings: BotSettings,
        forges: ForgeFor,
        open_repository: OpenRepository,
        locks: LockBook,
        diff: DiffRunner | None = None,  # the policies' dry run; None: no policy judges the apply
    ) -> None:
        self._settings = settings
        self._forges = forges
        self._open_repository = open_repository
        self._locks = locks
        self._diff = diff

    def _change(self, job: Job[Applied], client: ForgeClient) -> _Change:
        event = job.payload
        if isinstance(event, PushEvent):
            assert event.branch is not None  # routing queues pushes of branches only
            return _Change(event.repository, event.branch, event.after, event.before)
        merge_commit = event.merge_commit_sha
        if merge_commit is None:  # GitLab leaves it out for fast-forward merges; the forge knows
            merge_commit = client.pull_request(event.repository, event.number).merge_commit_sha or event.head_sha
        facts = pull_request_facts(client, event)
        return _Change(event.repository, event.base_ref, merge_commit, None, event.number, event.head_sha, facts)

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
            return self._report(client, change, False, [answers.nothing_applied(str(error))], "invalid config")
        once.pending(client, change.repository, change.commit, statuses.APPLYING, retry=is_retry(job))
        try:
            applied = self._apply(client, change, config)
        except (WorkspaceError, PublishError, UnknownPipelineError) as error:  # a name clash is the repository's
            raise_if_transient(error)
            reason = self._settings.secrets_masker().mask_text(str(error))
            return self._report(client, change, False, [answers.nothing_applied(reason)], "apply failed")
        if isinstance(applied, Refused | Unjudged):
            refused = [policy_verdict.refusal(applied, "nothing was applied")]
            return self._report(client, change, False, refused, "refused by policy", refused=applied.summary)
        results, gitops = applied
        ok = all(result.ok for result in results)
        # What changed says it; the manifests in full stay in the GitOps commit.
        lines = [replace(result.line(), detail="") if result.write else result.line() for result in results]
        sections = [answers.apply_results(lines)]
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
        reply = answers.Answer(
            answers.apply_title(change.commit, ok), [answers.applied_by_push(change.branch, change.commit, ok)]
        )
        once.post_answer(client, change.repository, change.number, _identity(change), reply, _outcome(ok))
        self._release(client, change)
        return "applied by its push already"

    def _apply(
        self, client: ForgeClient, change: _Change, config: Effective
    ) -> tuple[list[StepResult], tuple[str, ...]] | Refused | Unjudged:
        """The results, and in the GitOps modes what changed per pipeline and the commit's line; or the policies'
        refusal (nothing applied)."""
        deployment = self._open_repository(change.repository, client)
        commit = deployment.resolve(change.commit)
        steps = deployment.change_steps(change.before, commit, change.head_sha, config)
        if self._diff is not None:
            base = deployment.change_base(change.before, commit, change.head_sha)
            verdict = gate.judge(self._dry_run(client, change), _applied(change, base, commit, steps), config)
            if not isinstance(verdict, Cleared):
                return verdict
        masker = self._settings.secrets_masker()
        results = deployment.run(steps, config, masker, run_id=commit[:10])
        if config.operation_mode is OperationMode.MANAGED:
            return results, ()
        message = self._message(change, commit, results)
        line, linked = publish(self._settings, client, change.repository, deployment, change.branch, results, message)
        return results, (_what_changed(results, linked), line)

    def _dry_run(self, client: ForgeClient, change: _Change) -> gate.DryRun:
        assert self._diff is not None
        # the merged commit is the base branch's: the trusted pool renders it, as the apply's own renders
        return partial(self._diff, trusted=True, git_env=client.git_env(change.repository))

    def _message(self, change: _Change, commit: str, results: list[StepResult]) -> str:
        written = [
            commits.Written(result.step.pipeline.name, result.step.environment, result.step.operation)
            for result in results
            if result.ok and result.write is not None
        ]
        repository = change.repository
        text = commits.applied(repository.full_name, repository.forge, change.number, change.branch, commit, written)
        return commit_message(text.summary, text.lines, commit)

    def _report(
        self,
        client: ForgeClient,
        change: _Change,
        ok: bool,
        sections: list[str],
        outcome: str,
        *,
        refused: str | None = None,  # why the policies refused it: the status says so
    ) -> str:
        link = None
        if change.number is not None:
            reply = answers.Answer(answers.apply_title(change.commit, ok), sections)
            link = once.post_answer(
                client, change.repository, change.number, _identity(change), reply, _outcome(ok)
            ).url
        self._finish(client, change, ok, link, refused)
        return outcome

    def _finish(
        self, client: ForgeClient, change: _Change, ok: bool, link: str | None, refused: str | None = None
    ) -> None:
        """What follows the answer: locks released, the final status (each written only when missing)."""
        if change.number is not None:
            self._release(client, change)
        description = (
            statuses.APPLIED if ok else statuses.APPLY_FAILED_MERGE if change.number else statuses.APPLY_FAILED
        )
        if refused is not None:
            description = statuses.refused_by_policy(refused)
        elif not ok and _refused_before(client, change):
            return  # a refused merge answered before (a retry, a second delivery): its status says why
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
        client.set_status(change.repository, change.commit, CommitState.ERROR, statuses.job_failed(job.id))
        if change.number is not None:
            self._release(client, change)


def _applied(change: _Change, base: str, commit: str, steps: list[Step]) -> gate.ActedOn:
    return gate.ActedOn(
        source=change.repository.clone_url,
        base=base,  # where the merged head left the branch: a rebase merge's every commit is judged
        commit=commit,
        pipelines=[(step.pipeline.name, step.environment) for step in steps],
        policies_at=PolicyRevision.HEAD,  # the merged commit's own: its policies took effect with the merge
        pull_request=change.facts,
    )


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
    if status.state is CommitState.SUCCESS and status.description == statuses.APPLIED:
        return status
    failures = (
        {statuses.APPLY_FAILED} if change.number is not None else {statuses.APPLY_FAILED, statuses.APPLY_FAILED_MERGE}
    )
    refused = change.number is None and statuses.is_refused_by_policy(status.description)  # the merge's own refusal
    return status if status.state is CommitState.FAILURE and (status.description in failures or refused) else None


def _refused_before(client: ForgeClient, change: _Change) -> bool:
    status = client.status(change.repository, change.commit)
    return (
        status is not None and status.state is CommitState.FAILURE and statuses.is_refused_by_policy(status.description)
    )


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
