"""`/kpops deploy` and the apply on merge are judged by the preview's policies, and refuse with the denials listed;
what the policies know of the pull request (its labels, its author) comes from the delivery, else from the forge.

The dry runs here judge recorded renders with the real policy check (regopy in its bounded child process), so the
workflows run without git or kpops; `tests/unit/test_policy.py` judges real renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from kpops_bot.adapters.operations import Step
from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.model import DiffReport
from kpops_bot.dryrun.run import DiffRequest
from kpops_bot.events.model import Forge, PullRequestAction
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import CommitState
from kpops_bot.model.policy import PolicyRevision, PullRequestFacts
from kpops_bot.model.render import Operation
from kpops_bot.policy.check import Judged, check, policy_sets
from kpops_bot.sources import PipelineSources, SourceFile
from kpops_bot.versions.environments import WaitListener
from kpops_bot.workflows.apply import ApplyWorkflow
from kpops_bot.workflows.preview import PreviewWorkflow
from testbed.forges import RunningForge, running_forge
from testbed.repos import FIXTURES, GitRepo
from tests.support.fake_collaborators import FakeDeployment, FakeLocks, pipeline
from tests.support.golden import check_golden
from tests.support.recording_forge import RecordingForge
from tests.support.renders import component, recorded_render
from tests.support.reports import edited
from tests.support.workflow_kit import HEAD, MERGE, job, pull, pull_request_event, push_event, settings
from tests.unit.workflows.test_commands import Bench as CommandBench

# Every evaluation is a child process of its own (`policy/evaluate.py`): beyond the unit lane's "no subprocess".
pytestmark = pytest.mark.subprocess

LABEL = "deploy-approved"
LABEL_RULE = f"""package kpops
import rego.v1

deny contains {{"msg": sprintf("%s changes %s without the {LABEL} label", [input.pipeline, input.environment]),
                "component": "word-counter", "path": ["values", "replicaCount"]}} if {{
    not labelled
}}

labelled if "{LABEL}" in input.pull_request.labels

warn contains "a warning never refuses" if true
"""
WORD_COUNT = "pipelines/word-count/pipeline.yaml"


@pytest.fixture
def label_rule(tmp_path: Path) -> Path:
    folder = tmp_path / "org-policies"
    folder.mkdir()
    (folder / "labels.rego").write_text(LABEL_RULE, encoding="utf-8")
    return folder


@dataclass
class JudgedDryRun:
    """The dry run of a change that scales word-count: recorded renders, judged by the real policy check with the
    options the workflow passes (the bot's policy folders, the pull request's facts)."""

    requests: list[tuple[DiffRequest, DiffOptions, bool]] = field(default_factory=list)

    def __call__(
        self,
        request: DiffRequest,
        options: DiffOptions,
        *,
        trusted: bool,
        git_env: dict[str, str],
        on_wait: WaitListener | None = None,
    ) -> DiffReport:
        self.requests.append((request, options, trusted))
        base = recorded_render()
        head = edited(lambda render: component(render, "word-counter").config["values"].update(replicaCount=5))
        sources = PipelineSources([SourceFile(WORD_COUNT, (FIXTURES / "deployment-repo" / WORD_COUNT).read_text())])
        diffs = [diff_pipeline("word-count", env, base, head, options, sources) for env in request.environments]
        judged = [Judged(diff, base, head, sources) for diff in diffs]
        check(judged, policy_sets(options.policies, None), request.mode, options.policies, options.masker)
        return build_report("b" * 40, HEAD, request.mode, list(request.environments), diffs, options.blocking_levels)

    @property
    def facts(self) -> PullRequestFacts | None:
        return self.requests[-1][1].policies.pull_request


# /kpops deploy


def _deploy_bench(label_rule: Path, dry_run: JudgedDryRun) -> CommandBench:
    overrides = {"environments": {"main": ["prod"]}, "policy_folders": [str(label_rule)]}
    return CommandBench(diff=dry_run, overrides=overrides)  # type: ignore[arg-type]


def _deploys(bench: CommandBench) -> list[object]:
    return [args for name, args in bench.deployment.calls if name == "run"]


def test_deploy_is_refused_with_the_denials_listed_and_nothing_deployed(label_rule: Path) -> None:
    dry_run = JudgedDryRun()
    bench = _deploy_bench(label_rule, dry_run)
    bench.comment("/kpops deploy word-count")
    answer = bench.answer()
    assert "The policies deny this, so nothing was deployed" in answer
    assert f"`{WORD_COUNT}:20`" in answer  # where word-counter's replicaCount is set
    assert "word-count changes prod without the deploy-approved label" in answer
    assert "a warning never refuses" not in answer
    check_golden("policy/deploy-refused.md", answer)
    assert _deploys(bench) == [] and bench.locks.held == {}
    [(request, _, trusted)] = dry_run.requests
    # judged as the preview: the bound head against the base branch, the policies read at the merge base
    assert (request.base, request.head, request.only, request.environments) == ("main", HEAD, ["word-count"], ["prod"])
    assert (request.policies_at, request.only_if_judged, trusted) == (PolicyRevision.MERGE_BASE, True, True)
    # the labels are the forge's pull request's (a comment's delivery has none)
    assert dry_run.facts == PullRequestFacts(number=1, labels=(), author="alice", target_branch="main")


def test_a_labelled_pull_request_deploys(label_rule: Path) -> None:
    dry_run = JudgedDryRun()
    bench = _deploy_bench(label_rule, dry_run)
    bench.forge.pulls[1] = replace(pull(1), labels=("other", LABEL))
    bench.comment("/kpops deploy word-count")
    assert "The policies deny" not in bench.answer()
    assert len(_deploys(bench)) == 1
    assert dry_run.facts is not None and dry_run.facts.labels == ("other", LABEL)


def test_a_dry_run_deploy_and_the_other_commands_are_not_judged(label_rule: Path) -> None:
    dry_run = JudgedDryRun()
    bench = _deploy_bench(label_rule, dry_run)
    bench.comment("/kpops deploy word-count --dry-run")
    bench.comment("/kpops reset word-count")
    assert dry_run.requests == [] and len(_deploys(bench)) == 2


def test_a_policy_that_cannot_be_evaluated_refuses_the_deploy_naming_its_file(label_rule: Path) -> None:
    (label_rule / "broken.rego").write_text("package kpops\nimport rego.v1\n\ndeny contains msg if {\n")
    bench = _deploy_bench(label_rule, JudgedDryRun())
    bench.forge.pulls[1] = replace(pull(1), labels=(LABEL,))
    bench.comment("/kpops deploy word-count")
    answer = bench.answer()
    assert "A policy could not be evaluated, so nothing was deployed" in answer
    assert "broken.rego:4: this is unclosed" in answer
    assert _deploys(bench) == []
    check_golden("policy/deploy-unjudged.md", answer.replace(str(label_rule), "org-policies"))


# The apply on merge


@dataclass
class ApplyBench:
    dry_run: JudgedDryRun
    label_rule: Path
    forge: RecordingForge = field(default_factory=RecordingForge)
    deployment: FakeDeployment = field(
        default_factory=lambda: FakeDeployment(planned=[Step(Operation.DEPLOY, pipeline("word-count"), "prod", "x")])
    )

    def workflow(self) -> ApplyWorkflow:
        overrides = {"environments": {"main": ["prod"]}, "policy_folders": [str(self.label_rule)]}
        return ApplyWorkflow(
            settings(**overrides), lambda _f: self.forge, self.deployment.open, FakeLocks(), self.dry_run
        )

    def runs(self) -> list[object]:
        return [args for name, args in self.deployment.calls if name in ("run", "publish")]


def test_an_apply_the_merged_commits_policies_deny_applies_nothing_and_says_why(label_rule: Path) -> None:
    bench = ApplyBench(JudgedDryRun(), label_rule)
    merge = job(pull_request_event(PullRequestAction.MERGED, merge_commit_sha=MERGE), JobKind.APPLY)
    assert bench.workflow().run(merge) == "refused by policy"
    assert bench.runs() == []
    [answer] = bench.forge.bot_bodies(1)
    assert "The policies deny this, so nothing was applied" in answer
    check_golden("policy/apply-refused.md", answer)
    status = bench.forge.last_status(MERGE)
    assert status.state is CommitState.FAILURE
    assert status.description == "Refused by policy: 1 denial(s) by kpops.deny"
    [(request, _, trusted)] = bench.dry_run.requests
    # the merged commit against its first parent, judged by the merged commit's own policies
    assert (request.base, request.head, request.policies_at, trusted) == (f"{MERGE}^", MERGE, PolicyRevision.HEAD, True)
    # the merge's push to the branch finds the refusal: nothing applied, nothing said twice
    assert bench.workflow().run(job(push_event(), JobKind.APPLY)) == "applied by its merge already"
    assert bench.runs() == [] and len(bench.forge.bot_bodies(1)) == 1
    # the same merge delivered again: answered already
    assert bench.workflow().run(merge) == "answered by an earlier attempt"
    assert len(bench.forge.bot_bodies(1)) == 1
    assert bench.forge.last_status(MERGE) == status  # still says why


def test_a_merge_with_the_label_is_applied(label_rule: Path) -> None:
    bench = ApplyBench(JudgedDryRun(), label_rule)
    labelled = pull_request_event(PullRequestAction.MERGED, merge_commit_sha=MERGE, labels=(LABEL,))
    bench.workflow().run(job(labelled, JobKind.APPLY))
    assert len(bench.runs()) == 2  # run, then publish
    assert bench.forge.last_status(MERGE).description == "Applied"


def test_a_push_is_judged_without_a_pull_request(label_rule: Path) -> None:
    bench = ApplyBench(JudgedDryRun(), label_rule)
    assert bench.workflow().run(job(push_event(), JobKind.APPLY)) == "refused by policy"
    assert bench.runs() == []
    assert bench.dry_run.facts is None
    assert bench.forge.last_status(MERGE).description.startswith("Refused by policy: 1 denial(s)")


# The preview: labels and author from the delivery, else from the forge (real clients against the fake forges)


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB])
def forge(request: pytest.FixtureRequest, deployment_repo: GitRepo) -> Iterator[RunningForge]:
    with running_forge(request.param, deployment_repo.path, {"alice": "write"}) as running:
        running.pulls.open(1, HEAD)
        yield running


def _preview(forge: RunningForge, label_rule: Path, dry_run: JudgedDryRun, **event: object) -> str:
    overrides = {"environments": {"main": ["prod"]}, "policy_folders": [str(label_rule)]}
    workflow = PreviewWorkflow(settings(**overrides), lambda _f: forge.client, dry_run, lambda *_: None)
    opened = pull_request_event(repository=forge.repository, **event)  # type: ignore[arg-type]
    workflow.run(job(opened, JobKind.PREVIEW))
    [status] = [s for s in forge.statuses(HEAD) if s.state != "pending"][-1:]
    return status.state


def test_a_delivery_without_labels_or_author_is_judged_by_the_forges_pull_request(
    forge: RunningForge, label_rule: Path
) -> None:
    dry_run = JudgedDryRun()
    # as GitLab's hook when someone else pushed: no author name; GitLab 8's: no labels
    assert _preview(forge, label_rule, dry_run, author=None, labels=None) == forge.failure
    assert dry_run.facts == PullRequestFacts(number=1, labels=(), author="alice", target_branch="main")
    forge.pulls.label(1, LABEL)
    assert _preview(forge, label_rule, dry_run, author=None, labels=None) == forge.success
    assert dry_run.facts is not None and dry_run.facts.labels == (LABEL,)


def test_the_deliverys_labels_and_author_are_used_as_they_are(forge: RunningForge, label_rule: Path) -> None:
    dry_run = JudgedDryRun()
    forge.pulls.label(1, LABEL)  # the forge's would pass: the delivery's are what the preview is of
    assert _preview(forge, label_rule, dry_run, author="bob", labels=()) == forge.failure
    assert dry_run.facts == PullRequestFacts(number=1, labels=(), author="bob", target_branch="main")
    asked = [entry.path for entry in forge.log if entry.path.endswith(("/pulls/1", "/merge_requests/1"))]
    assert asked == []
