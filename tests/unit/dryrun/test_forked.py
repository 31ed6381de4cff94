"""Work shared with a fork of the process: the same results in the same order, whatever the child does."""

from __future__ import annotations

import os
import time

import pytest

from kpops_bot.dryrun import forked
from kpops_bot.dryrun.forked import forked_map

pytestmark = pytest.mark.subprocess  # a forked child

PARENT = os.getpid()


def squared_where(item: int) -> tuple[int, int]:
    return item * item, os.getpid()


def test_many_items_are_shared_with_a_child_and_come_back_in_order() -> None:
    results = forked_map(squared_where, list(range(100)), minimum=10)
    assert [value for value, _ in results] == [item * item for item in range(100)]
    workers = [pid for _, pid in results]
    assert set(workers[:50]) == {PARENT}
    assert len(set(workers[50:])) == 1 and PARENT not in workers[50:], "the second half came from the child"


def test_few_items_are_worked_on_here() -> None:
    results = forked_map(squared_where, list(range(5)), minimum=10)
    assert {pid for _, pid in results} == {PARENT}


def failing_in_the_child(item: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        raise RuntimeError("only in the child")
    return squared_where(item)


def test_a_child_that_fails_leaves_its_share_to_the_parent() -> None:
    results = forked_map(failing_in_the_child, list(range(20)), minimum=10)
    assert results == [(item * item, PARENT) for item in range(20)]


def hanging_in_the_child(item: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        time.sleep(60)
    return squared_where(item)


def test_a_child_that_does_not_answer_in_time_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "_GRACE", 0.2)
    started = time.monotonic()
    results = forked_map(hanging_in_the_child, list(range(20)), minimum=10)
    assert results == [(item * item, PARENT) for item in range(20)]
    assert time.monotonic() - started < 30, "the child was not waited for"


def test_an_error_in_the_parents_share_is_raised_and_the_child_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    children: list[int] = []
    fork = os.fork

    def recorded_fork() -> int:
        child = fork()
        if child:
            children.append(child)
        return child

    def failing_here(item: int) -> int:
        if os.getpid() == PARENT and item == 3:
            raise ValueError("item 3")
        return item

    monkeypatch.setattr(os, "fork", recorded_fork)
    with pytest.raises(ValueError, match="item 3"):
        forked_map(failing_here, list(range(20)), minimum=10)
    (child,) = children
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # no child left behind, not even a zombie


def test_pipeline_diffs_come_back_from_the_child_as_they_were_made() -> None:
    """What the dry run's child sends: pipeline diffs (risks with their private paths, resources, topology)."""
    from kpops_bot.diff.compute import DiffOptions, diff_pipeline
    from kpops_bot.model.render import PipelineRender
    from tests.support.renders import component, recorded_render

    base = recorded_render()
    head = PipelineRender.model_validate(base.model_dump(mode="json") | {"revision": "head"})
    topics = component(head, "word-counter").config["to"]["topics"]
    del topics[next(iter(topics))]  # a removed output topic: a risk pointing at its path

    def diffed(index: int) -> object:
        return diff_pipeline(f"word-count-{index}", None, base, head, DiffOptions())

    inline = [diffed(index) for index in range(60)]
    assert any(risk._path for risk in inline[0].risks)  # type: ignore[attr-defined]
    assert forked_map(diffed, list(range(60)), minimum=10) == inline
