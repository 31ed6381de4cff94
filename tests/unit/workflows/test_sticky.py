from __future__ import annotations

from kpops_bot.model.forge import Comment
from kpops_bot.report import notices
from kpops_bot.workflows.sticky import Create, Delete, Edit, bot_parts, plan

BOT = "kpops-bot"


def _part(comment_id: int, number: int, total: int, text: str = "x", author: str = BOT) -> Comment:
    return Comment(comment_id, author, f"<!-- kpops-bot:diff part {number}/{total} -->\n{text}")


def test_bot_parts_are_the_bots_marked_comments_in_creation_order() -> None:
    comments = [
        _part(9, 2, 2),
        Comment(3, "alice", "looks good"),
        _part(4, 1, 2),
        _part(5, 1, 1, author="mallory"),  # somebody pasting the marker is not the bot
        Comment(6, BOT, "a reply to a command, not the report"),
    ]
    assert [c.id for c in bot_parts(comments, BOT)] == [4, 9]


def test_plan_edits_changed_parts_only_creates_missing_and_deletes_surplus() -> None:
    one, two, three = _part(1, 1, 3, "a"), _part(2, 2, 3, "b"), _part(3, 3, 3, "c")
    assert plan([one, two, three], [one.body, "new b"]) == [Edit(two, "new b"), Delete(three)]
    assert plan([one], [one.body, "b", "c"]) == [Create("b"), Create("c")]
    assert plan([], ["only"]) == [Create("only")]
    assert plan([one, two], [one.body, two.body]) == []


def test_marking_outdated_keeps_the_marker_first_and_is_idempotent() -> None:
    body = _part(1, 1, 1, "report").body
    marked = notices.mark_outdated(body, "closed")
    assert marked.startswith("<!-- kpops-bot:diff part 1/1 -->\n> [!NOTE]")
    assert marked.endswith("report")
    assert notices.mark_outdated(marked, "closed again") == marked
