"""Commands run only from text a reader sees as text: hidden, quoted or code lines never run."""

from __future__ import annotations

import pytest

from kpops_bot.commands.parse import Command, CommandName, addresses_bot, parse_comment

ATTACK = "/kpops destroy word-count"


@pytest.mark.parametrize(
    "body",
    [
        f"Looks fine.\n<!--\n{ATTACK}\n-->\n",
        f"Looks fine. <!--\n{ATTACK}\n-->",
        f"<!--\n\n{ATTACK}\n\n-->",
        f"Example:\n\n    {ATTACK}\n",
        f"~~~\n{ATTACK}\n~~~\n",
        f"````\n```\n{ATTACK}\n```\n````\n",
        f"<details>\n\n{ATTACK}\n\n</details>\n",
        f"<details><summary>more</summary>\n\n{ATTACK}\n\n</details>\n",
        f"see <details>\n{ATTACK}",
        f"> {ATTACK}\n",
        f"- {ATTACK}\n",
        f"# {ATTACK}\n",
        f"`{ATTACK}`",
        f"Looks fine.\u2028{ATTACK}",
        f"Looks fine.\x0b{ATTACK}",
        f"Looks fine.\x0c{ATTACK}",
        f"Looks fine.\r{ATTACK}",
        f"Looks fine.\x85{ATTACK}",
    ],
)
def test_hidden_or_code_lines_run_nothing(body: str) -> None:
    assert parse_comment(body) == []
    assert not addresses_bot(body)


@pytest.mark.parametrize(
    "body",
    [
        ATTACK,
        f"Looks fine.\n{ATTACK}",
        f"Looks fine.\r\n{ATTACK}\r\n",
        f"<details>\n\nfolded\n\n</details>\n\n{ATTACK}",
        f"```\nexample\n```\n  {ATTACK}  ",
    ],
)
def test_a_visible_line_is_a_command(body: str) -> None:
    assert parse_comment(body) == [Command(CommandName.DESTROY, ("word-count",), line=ATTACK)]
    assert addresses_bot(body)


def test_routing_check_never_misses_what_the_parser_answers() -> None:
    long_body = "x" * 20_000 + "\n\n" + ATTACK
    assert addresses_bot(long_body)
    assert parse_comment(long_body)[0].reason.startswith("the comment is too long")  # type: ignore[union-attr]
