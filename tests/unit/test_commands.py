"""The command parser and the authorization decision: pure, tested with plain data."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from kpops_bot.commands.authorize import CommandPolicy, PullRequestState, Role, refusal
from kpops_bot.commands.parse import MAX_COMMENT_CHARS, Command, CommandName, Rejected, parse_comment, parse_line
from kpops_bot.model.forge import Permission

OPEN = PullRequestState(open=True, approved=False, mergeable=True)


def test_a_full_command_line() -> None:
    parsed = parse_line("/kpops reset word-count team-a/orders --steps app,producer --environment=dev --dry-run")
    assert parsed == Command(
        CommandName.RESET,
        pipelines=("word-count", "team-a/orders"),
        steps=("app", "producer"),
        environment="dev",
        dry_run=True,
        line="/kpops reset word-count team-a/orders --steps app,producer --environment=dev --dry-run",
    )


def test_commands_are_lines_of_their_own_outside_code_blocks() -> None:
    body = "Looks good.\n/kpops diff\nplease /kpops deploy\n```\n/kpops destroy word-count\n```\n  /kpops help  \n"
    assert [item.name for item in parse_comment(body) if isinstance(item, Command)] == [
        CommandName.DIFF,
        CommandName.HELP,
    ]
    assert parse_comment("no command here, only /kpops in the text") == []
    assert parse_comment("/kpopsy reset") == []
    assert parse_line("/kpops") == Command(CommandName.HELP, line="/kpops")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/kpops rest word-count", "unknown command `rest`. Did you mean `reset`?"),
        ("/kpops deploy word-count --stesp a", "unknown option `--stesp`. Did you mean `--steps`?"),
        ("/kpops deploy word-count --environment", "`--environment` needs a value"),
        ("/kpops reset", "`reset` needs the pipelines to act on"),
        ("/kpops help word-count", "`help` takes no arguments"),
        ("/kpops diff --dry-run", "`diff` takes no `--steps` or `--dry-run`"),
        ("/kpops reset ../secrets", "is not a pipeline name or a folder inside the repository"),
        ("/kpops reset /etc/passwd", "is not a pipeline name or a folder inside the repository"),
        ("/kpops reset pipelines/./x", "is not a pipeline name or a folder inside the repository"),
        ("/kpops reset word-count;rm", "contains characters commands never use: `;`"),
        ("/kpops reset $(whoami)", "contains characters commands never use"),
        ("/kpops reset `id`", "contains characters commands never use"),
        ("/kpops deploy x --environment dev|prod", "contains characters commands never use: `|`"),
        ("/kpops deploy x --steps a,-b", "`-b` is not a valid step name"),
    ],
)
def test_invalid_lines_are_rejected_with_what_is_valid(line: str, expected: str) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed, Rejected)
    assert expected in parsed.reason
    outside_code = [t.content for t in MarkdownIt().parseInline(parsed.reason)[0].children or [] if t.type == "text"]
    assert "`" not in "".join(outside_code)  # the user's text cannot break out of its code span


def test_huge_comments_and_too_many_commands_are_rejected_whole() -> None:
    huge = "/kpops reset word-count\n" + "x" * MAX_COMMENT_CHARS
    assert parse_comment(huge) == [Rejected(f"the comment is too long ({len(huge):,} characters, at most 10,000)")]
    many = "\n".join(["/kpops help"] * 6)
    assert parse_comment(many) == [Rejected("too many commands in one comment (6, at most 5)")]


def test_default_roles_follow_what_a_platform_team_would_choose() -> None:
    policy = CommandPolicy()
    assert [policy.role(name) for name in CommandName] == [
        Role.EVERYONE,  # help
        Role.EVERYONE,  # diff
        Role.WRITE,  # deploy
        Role.MAINTAIN,  # destroy
        Role.WRITE,  # reset
        Role.MAINTAIN,  # clean
        Role.WRITE,  # unlock
    ]


def test_refusals_say_why() -> None:
    policy = CommandPolicy()
    assert refusal(CommandName.HELP, False, "bob", Permission.NONE, OPEN, policy) is None
    assert refusal(CommandName.RESET, False, "alice", Permission.WRITE, OPEN, policy) is None
    assert refusal(CommandName.RESET, False, "bob", Permission.READ, OPEN, policy) == (
        "@bob, `reset` needs write permission on this repository; you have read permission."
    )
    assert "needs maintain permission" in str(refusal(CommandName.DESTROY, False, "a", Permission.WRITE, OPEN, policy))
    assert "you have no permission" in str(refusal(CommandName.DEPLOY, False, "eve", Permission.NONE, OPEN, policy))
    closed = PullRequestState(open=False, approved=True, mergeable=None)
    assert "open pull request" in str(refusal(CommandName.RESET, False, "a", Permission.ADMIN, closed, policy))


def test_approval_and_mergeability_requirements_apply_to_what_executes() -> None:
    policy = CommandPolicy(
        roles={CommandName.DEPLOY: Role.TRIAGE},
        require_approval=[CommandName.DEPLOY, CommandName.RESET],
        require_mergeable=[CommandName.DEPLOY],
    )
    assert "no approval on its current commit from a reviewer with write permission or more" in str(
        refusal(CommandName.RESET, False, "t", Permission.WRITE, OPEN, policy)
    )
    assert refusal(CommandName.RESET, True, "t", Permission.WRITE, OPEN, policy) is None  # a dry run shows only
    # deploy runs the head: its approval is the head-code decision's (tests/security/test_head_code.py)
    assert refusal(CommandName.DEPLOY, False, "t", Permission.TRIAGE, OPEN, policy) is None
    approved = PullRequestState(open=True, approved=True, mergeable=False)
    assert "has conflicts" in str(refusal(CommandName.DEPLOY, False, "t", Permission.TRIAGE, approved, policy))
    checking = PullRequestState(open=True, approved=True, mergeable=None)
    assert "still being checked" in str(refusal(CommandName.DEPLOY, False, "t", Permission.TRIAGE, checking, policy))
    ready = PullRequestState(open=True, approved=True, mergeable=True)
    assert refusal(CommandName.DEPLOY, False, "t", Permission.TRIAGE, ready, policy) is None
