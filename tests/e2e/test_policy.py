"""End to end, on both forges: the repository's policy judges the preview, `/kpops deploy` and the apply on merge
through the running bot (webhook, store, worker, real renders, the fake forge's API); a denial applies nothing."""

from __future__ import annotations

from kpops_bot.settings import ApplySettings
from testbed.harness import BotHarness, harness_fixture
from tests.e2e.test_commands import WORD_COUNT, Remote, _answers, _merge, _open

harness = harness_fixture(environments={"main": ["dev"]}, apply=ApplySettings(push_branches=["main"]))

LABEL_RULE = """package kpops
import rego.v1

deny contains sprintf("%s changes without the deploy-approved label", [input.pipeline]) if {
    not "deploy-approved" in input.pull_request.labels
}
"""


def test_a_denied_change_is_neither_deployed_nor_applied(harness: BotHarness) -> None:
    remote = Remote(harness.remote)
    repo = harness.repo
    repo.write("policies/labels.rego", LABEL_RULE)
    repo.commit("The platform team's rule")
    repo.git("push", "-q", "origin", "HEAD:main")
    head = _open(harness, 1, "scale", WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    assert harness.final_status(head) == harness.forge.failure  # the preview's denial blocks
    before = remote.head()

    harness.send_comment(1, "alice", "/kpops deploy word-count")
    (refused,) = _answers(harness, 1, 1)
    assert "The policies deny this, so nothing was deployed" in refused
    assert "word-count changes without the deploy-approved label" in refused

    merge = _merge(harness, 1, "scale")
    assert harness.send_pull_request("merged", 1, head, merge_commit_sha=merge).status_code == 202
    assert harness.final_status(merge) == harness.forge.failure
    applied = _answers(harness, 1, 2)[1]
    assert "The policies deny this, so nothing was applied" in applied
    assert harness.forge.statuses(merge)[-1].description == "Refused by policy: 1 denial(s) by kpops.deny"
    assert remote.head() == merge and remote.head() != before  # the merge only: no GitOps commit of the bot
