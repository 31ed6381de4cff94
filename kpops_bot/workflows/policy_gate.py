"""Whether `/kpops deploy` or an apply may act on a commit: the denials of the policies in its dry run.

A deploy and an apply are judged as a preview is, by the same policies over the same inputs (the pipelines they act
on, rendered at base and at the commit, diffed), so what the preview denied cannot be deployed by a command or a
merge. Where the repository's folder is read is the caller's choice (`PolicyRevision`): at the merge base for a
deploy, as its preview; at the merged commit for an apply, whose policies took effect with the merge. A policy that
cannot be evaluated refuses too: never a silent pass. Denials block as the preview's dangers do (the repository's
blocking levels); warnings never refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.model.policy import PolicyError, PolicyRevision, PullRequestFacts, Severity
from kpops_bot.policy.judge import POLICY_CODE
from kpops_bot.policy.verdict import Cleared, Denial, Refused, Unjudged, Verdict
from kpops_bot.repo_config import Effective

DryRun = Callable[[DiffRequest, DiffOptions], DiffReport]
"""The bot's dry run (the preview's), bound to the trust and the git credentials the caller decided."""


@dataclass(frozen=True)
class ActedOn:
    """What a deploy or an apply acts on."""

    source: str  # the repository's clone URL
    base: str  # the base branch (a deploy), the commit before (an apply)
    commit: str  # the commit deployed or applied
    pipelines: Sequence[tuple[str, str | None]]  # (kpops' name, environment) of each pipeline acted on
    policies_at: PolicyRevision
    pull_request: PullRequestFacts | None  # None: a push, no pull request


def judge(dry_run: DryRun, acting: ActedOn, config: Effective) -> Verdict:
    """The policies' verdict on the pipelines `acting` names, rendered at `acting.commit` and its base; with no
    policy to judge (none in the repository at that revision, none of the bot's), nothing is rendered."""
    if not acting.pipelines:
        return Cleared()
    environments = {environment for _, environment in acting.pipelines}
    request = DiffRequest(
        source=acting.source,
        base=acting.base,
        head=acting.commit,
        environments=[environment for environment in config.environments if environment in environments],
        mode=config.operation_mode.render_mode,
        config_dir=config.config_dir,
        only=sorted({name for name, _ in acting.pipelines}),
        policies_at=acting.policies_at,
        only_if_judged=True,
    )
    options = config.diff_options
    options = replace(options, policies=replace(options.policies, pull_request=acting.pull_request))
    try:
        report = dry_run(request, options)
    except PolicyError as error:  # its text quotes the policy's file and message: masked as the report is
        return Unjudged(options.masker.mask_text(str(error)))
    denials = tuple(
        Denial(
            rule=risk.rule or POLICY_CODE,
            pipeline=pipeline.name,
            environment=pipeline.environment,
            message=risk.message,
            file=risk.source.file if risk.source else None,
            line=risk.source.line if risk.source else None,
        )
        for pipeline, risk in report.blocking_risks
        if risk.code == POLICY_CODE and Severity.of(risk.rule or "") is Severity.DENY
    )
    return Refused(denials) if denials else Cleared()
