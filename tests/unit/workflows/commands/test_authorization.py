"""Authorization's decisions as values: each line of a comment accepted with how it runs the head, or refused with
the section that tells why. Pure: plain facts in, decisions out."""

from __future__ import annotations

from dataclasses import replace

from kpops_bot.commands.authorize import CommandPolicy, PullRequestState
from kpops_bot.commands.catalog import DECLARED, CommandName, Role
from kpops_bot.commands.parse import Command, Rejected, parse_line
from kpops_bot.head_code import HeadRules, RunHead, Variables
from kpops_bot.model.forge import Permission
from kpops_bot.report import answers
from kpops_bot.settings import OperationMode
from kpops_bot.workflows.commands.authorization import Accepted, Facts, Refused, authorize, needs_permission

BOUND, LIVE = "a" * 40, "e" * 40
RULES = HeadRules(allow_fork_previews=False, allow_fork_deploy=False, deploy_needs_approval=False)
FACTS = Facts(
    author="alice",
    permission=Permission.WRITE,
    state=PullRequestState(open=True, approved=False, mergeable=True),
    from_fork=False,
    head=BOUND,
    moved_to=None,
    mode=OperationMode.MANIFEST,
)


def _command(line: str) -> Command:
    parsed = parse_line(line)
    assert isinstance(parsed, Command)
    return parsed


def _decide(line: str, facts: Facts = FACTS, rules: HeadRules = RULES, policy: CommandPolicy | None = None) -> object:
    [decision] = authorize([parse_line(line)], facts, policy or CommandPolicy(), rules)
    return decision


def test_commands_that_run_the_head_are_accepted_with_how_they_run_it() -> None:
    assert _decide("/kpops diff") == Accepted(_command("/kpops diff"), RunHead(Variables.TRUSTED))
    assert _decide("/kpops deploy word-count") == Accepted(
        _command("/kpops deploy word-count"), RunHead(Variables.TRUSTED)
    )


def test_commands_that_run_no_head_code_are_accepted_without_a_head() -> None:
    for line in ("/kpops help", "/kpops reset word-count", "/kpops unlock"):
        assert _decide(line) == Accepted(_command(line))
    assert {name for name, declared in DECLARED.items() if declared.head is not None} == {
        CommandName.DIFF,
        CommandName.DEPLOY,
    }


def test_a_forks_head_renders_for_a_diff_only_without_secret_variables_and_where_allowed() -> None:
    fork = replace(FACTS, from_fork=True)
    refused = _decide("/kpops diff", fork)
    assert isinstance(refused, Refused) and "allow_fork_previews" in refused.section and not refused.every_run
    previews = replace(RULES, allow_fork_previews=True)
    assert _decide("/kpops diff", fork, previews) == Accepted(_command("/kpops diff"), RunHead(Variables.UNTRUSTED))
    deploy = _decide("/kpops deploy word-count", fork, previews)
    assert isinstance(deploy, Refused) and "allow_fork_deploy" in deploy.section


def test_a_head_that_moved_refuses_what_runs_it_every_run_and_naming_both_commits() -> None:
    moved = replace(FACTS, moved_to=LIVE)
    expected = answers.refused("/kpops deploy word-count", answers.head_moved(CommandName.DEPLOY, BOUND, LIVE))
    assert _decide("/kpops deploy word-count", moved) == Refused(expected, every_run=True)
    assert _decide("/kpops reset word-count", moved) == Accepted(_command("/kpops reset word-count"))  # the base


def test_rejections_and_refusals_are_told_once() -> None:
    line = "/kpops rest word-count"
    rejected = parse_line(line)
    assert isinstance(rejected, Rejected)
    assert _decide(line) == Refused(answers.rejected(line, rejected.reason))
    whole = Rejected("too many commands in one comment (6, at most 5)")
    assert authorize([whole], FACTS, CommandPolicy(), RULES) == [Refused(f"❌ {whole.reason}")]
    reader = replace(FACTS, author="bob", permission=Permission.READ)
    refused = _decide("/kpops reset word-count", reader)
    assert refused == Refused(
        answers.refused(
            "/kpops reset word-count",
            "@bob, `reset` needs write permission on this repository; you have read permission.",
        )
    )


def test_each_line_gets_its_decision_in_the_comments_order() -> None:
    lines = ["/kpops rest", "/kpops diff", "/kpops destroy word-count", "/kpops help"]
    decisions = authorize([parse_line(line) for line in lines], FACTS, CommandPolicy(), RULES)
    assert [type(decision) for decision in decisions] == [Refused, Accepted, Refused, Accepted]
    assert "needs maintain permission" in str(decisions[2])


def test_an_approval_the_policy_requires_gates_the_deploy_of_the_head() -> None:
    rules = replace(RULES, deploy_needs_approval=True)
    refused = _decide("/kpops deploy word-count", FACTS, rules)
    assert isinstance(refused, Refused) and "no approval on its current commit" in refused.section
    approved = replace(FACTS, state=PullRequestState(open=True, approved=True, mergeable=True))
    assert isinstance(_decide("/kpops deploy word-count", approved, rules), Accepted)
    managed = replace(FACTS, mode=OperationMode.MANAGED)
    dry_run = _decide("/kpops deploy word-count --dry-run", managed, rules)  # kpops runs the head with credentials
    assert isinstance(dry_run, Refused) and "deploy --dry-run" in dry_run.section


def test_the_permission_is_needed_only_for_commands_beyond_everyones() -> None:
    policy = CommandPolicy()
    assert not needs_permission([parse_line("/kpops help"), parse_line("/kpops diff"), Rejected("x")], policy)
    assert needs_permission([parse_line("/kpops help"), parse_line("/kpops unlock")], policy)
    assert needs_permission([parse_line("/kpops help")], CommandPolicy(roles={CommandName.HELP: Role.READ}))


def test_every_command_is_declared_once_and_its_help_line_comes_from_the_declaration() -> None:
    assert set(DECLARED) == set(CommandName)
    policy = CommandPolicy()
    help_text = answers.help_text(policy, OperationMode.MANIFEST)
    for name, declared in DECLARED.items():
        assert f"| `{name}` | {declared.role.value} | {declared.purpose} |" in help_text
        assert name.changes_cluster is declared.changes_cluster
