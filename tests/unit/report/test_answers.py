"""The bot's answers in a thread: pure text from plain data."""

from __future__ import annotations

import pytest

from kpops_bot.commands.authorize import CommandPolicy, Role
from kpops_bot.commands.parse import CommandName, Rejected, command_lines, parse_line
from kpops_bot.events.model import Forge
from kpops_bot.report import answers
from kpops_bot.report.identity import answer_of
from kpops_bot.settings import OperationMode


def test_help_lists_every_command_with_its_permission_and_cannot_trigger_itself() -> None:
    policy = CommandPolicy(roles={CommandName.RESET: Role.MAINTAIN}, require_approval=[CommandName.DEPLOY])
    text = answers.help_text(policy, OperationMode.MANIFEST)
    for name in CommandName:
        assert f"| `{name}` | {policy.role(name).value} |" in text
    assert "| `reset` | maintain |" in text and "approval before `deploy`" in text
    assert "committed to the GitOps repository" in text
    assert command_lines(text) == []  # the bot reading its own help finds no command in it


def test_waiting_names_holders_and_the_place_in_line() -> None:
    state = answers.LockLine(position=2, held_by=[("word-count (dev)", 1)], ahead=[4])
    text = answers.waiting(state, Forge.GITLAB)
    assert "held: `word-count (dev)` by !1; waiting before you: !4" in text
    assert "number 2 in line" in text


def test_an_answer_too_long_for_a_comment_is_cut_and_says_so() -> None:
    body = answers.answer("title", ["x" * 5000])
    assert answers.fit(body, 10_000) == body
    cut = answers.fit(body, 1000)
    assert len(cut) <= 1000 and cut.endswith("longer than one comment may be)")


@pytest.mark.parametrize("outcome", ["", "ok", "failed"])
def test_an_answer_is_posted_under_its_whole_marker_and_cut_to_the_limit_with_it(outcome: str) -> None:
    reply = answers.Answer("applied `bbbbbbbbbbbb`", ["x" * 5_000, "y"])
    body = answers.marked(reply, "apply:" + "b" * 40, 1_000, outcome)
    assert len(body) == 1_000
    assert answer_of(body) == ("apply:" + "b" * 40, outcome)
    assert body.partition("\n")[2].startswith("#### kpops-bot: applied `bbbbbbbbbbbb`\n\nxxx")
    assert body.endswith("longer than one comment may be)")
    short = answers.Answer("help", ["a line"])
    assert (
        answers.marked(short, "comment:5", 1_000)
        == "<!-- kpops-bot:answer comment:5 -->\n#### kpops-bot: help\n\na line"
    )


def test_a_persons_text_is_quoted_back_at_one_length_everywhere() -> None:
    token = "a" * 100
    assert parse_line(f"/kpops rest{token}") == Rejected(
        f"unknown command `rest{token}`. Valid: `help`, `diff`, `deploy`, `destroy`, `reset`, `clean`, `unlock`.",
        f"/kpops rest{token}",
    )
    line = "/kpops reset " + "w" * 200
    assert answers.title([line]) == f"`{line[:119]}…`"
