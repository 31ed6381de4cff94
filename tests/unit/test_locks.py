"""Pipeline locks and the line of waiting commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time

from kpops_bot.events.codec import dump_event
from kpops_bot.jobs import CommandRequest, JobKind, NewJob, decode
from kpops_bot.locks import Locks, RequeuingLocks
from kpops_bot.model.locks import Granted, Resource, Waiting
from kpops_bot.store import JobState, Store, lock_waits
from tests.support.workflow_kit import comment_event

REPO = "github:acme/deployments"
WORD_COUNT = Resource("dev", "word-count")
ORDERS = Resource("dev", "team-a-orders")


def _command(number: int, **resumed: object) -> NewJob:
    comment = comment_event("/kpops deploy word-count", number=number)
    return NewJob(f"{REPO}#{number}", JobKind.COMMAND, CommandRequest(comment, **resumed))  # type: ignore[arg-type]


def _acquire(locks: Locks, number: int, *resources: Resource, key: str | None = None) -> Granted | Waiting:
    then = _command(number)
    return locks.acquire(REPO, number, resources, wait_key=key or f"comment-{number}", then=then)


def test_a_held_pipeline_makes_others_wait_in_line_and_release_wakes_them_in_order(store: Store) -> None:
    locks = Locks(store)
    assert _acquire(locks, 1, WORD_COUNT) == Granted()
    assert _acquire(locks, 1, WORD_COUNT, ORDERS, key="again") == Granted()  # a holder takes more freely
    second = _acquire(locks, 2, WORD_COUNT)
    third = _acquire(locks, 3, WORD_COUNT)
    assert second == Waiting(position=1, held_by={WORD_COUNT: 1}, ahead=[])
    assert isinstance(third, Waiting) and third.position == 2 and third.ahead == [2]
    assert _acquire(locks, 2, WORD_COUNT) == second  # asking again keeps its place, queues nothing new
    assert len(locks.waiting(REPO)) == 2
    assert _acquire(locks, 4, Resource("prod", "word-count")) == Granted()  # another environment is free

    released = locks.release(REPO, 1, forget_waits=True)
    assert released.freed == [Resource("dev", "team-a-orders"), WORD_COUNT]
    woken = released.woken
    assert [waiter.number for waiter in woken] == [2, 3]
    assert woken[0].job == _command(2)
    assert isinstance(_acquire(locks, 3, WORD_COUNT), Waiting)  # 2 is first in line, though nobody holds it now
    assert _acquire(locks, 2, WORD_COUNT) == Granted()
    assert [waiter.number for waiter in locks.waiting(REPO)] == [3]
    assert locks.held(REPO) == {WORD_COUNT: 2, Resource("prod", "word-count"): 4}


def test_a_comment_that_leaves_the_line_lets_those_behind_it_go_on(store: Store) -> None:
    """A resumed comment refused (its head moved) takes no lock: it leaves, and does not block the line."""
    locks = Locks(store)
    assert _acquire(locks, 1, ORDERS) == Granted()
    assert isinstance(_acquire(locks, 2, WORD_COUNT, ORDERS), Waiting)
    assert isinstance(_acquire(locks, 3, WORD_COUNT), Waiting)  # behind 2, though nobody holds word-count
    assert isinstance(_acquire(locks, 4, ORDERS), Waiting)  # behind 1 and 2
    left = locks.leave(REPO, "comment-2")
    assert (left.freed, [waiter.number for waiter in left.woken]) == ([], [3, 4])
    assert locks.leave(REPO, "comment-2").woken == []  # gone already
    assert _acquire(locks, 3, WORD_COUNT) == Granted()
    assert [waiter.number for waiter in locks.waiting(REPO)] == [4]


def test_unlock_of_some_pipelines_and_reconcile_with_open_pull_requests(store: Store) -> None:
    locks = Locks(store)
    _acquire(locks, 1, WORD_COUNT, ORDERS)
    _acquire(locks, 2, ORDERS)
    released = locks.release(REPO, 1, ["team-a-orders"])
    assert (released.freed, [waiter.number for waiter in released.woken]) == ([ORDERS], [2])
    assert locks.held(REPO) == {WORD_COUNT: 1}
    _acquire(locks, 3, WORD_COUNT)
    assert locks.repositories() == [REPO]
    woken = locks.reconcile(REPO, open_numbers={2, 3})  # 1 was closed while the bot was down
    assert [waiter.number for waiter in woken] == [3]
    assert locks.held(REPO) == {}
    locks.reconcile(REPO, open_numbers=set())
    assert locks.waiting(REPO) == [] and locks.repositories() == []


def test_two_pull_requests_taking_one_free_pipeline_at_once_get_one_lock(store: Store) -> None:
    locks = Locks(store)
    results: dict[int, Granted | Waiting] = {}
    barrier = threading.Barrier(8)

    def take(number: int) -> None:
        barrier.wait()
        results[number] = _acquire(locks, number, WORD_COUNT)

    threads = [threading.Thread(target=take, args=(number,)) for number in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted = [number for number, result in results.items() if isinstance(result, Granted)]
    assert len(granted) == 1
    assert locks.held(REPO) == {WORD_COUNT: granted[0]}
    positions = sorted(result.position for result in results.values() if isinstance(result, Waiting))
    assert positions == list(range(1, 8))


def test_a_release_through_the_lock_book_queues_the_waiting_comments_again(store: Store) -> None:
    book = RequeuingLocks(Locks(store), store)
    then = _command(2, resumed=True, head="a" * 40)
    assert isinstance(book.acquire(REPO, 1, [WORD_COUNT], wait_key="c1", then=then), Granted)
    assert isinstance(book.acquire(REPO, 2, [WORD_COUNT], wait_key="c2", then=then), Waiting)
    assert store.jobs(f"{REPO}#2") == []
    book.release(REPO, 1, forget_waits=True)
    [queued] = store.jobs(f"{REPO}#2")
    assert (queued.kind, decode(queued).payload, queued.state) == ("command", then.payload, JobState.QUEUED)
    assert isinstance(book.acquire(REPO, 2, [WORD_COUNT], wait_key="c2", then=then), Granted)


def test_a_wait_stored_before_typed_jobs_is_queued_again_typed(store: Store) -> None:
    """A comment waiting in line since kpops-bot before typed jobs: its job's flag and head sat in the event's
    object. A wait that cannot be read at all is left out of the line (and logged), never a lock that fails."""
    comment = comment_event("/kpops deploy word-count", number=2)
    old = {**dump_event(comment), "resumed": True, "head": "a" * 40}
    locks = Locks(store)
    assert _acquire(locks, 1, WORD_COUNT) == Granted()
    with store.transaction() as connection:
        for wait_key, payload in (("c2", json.dumps(old)), ("c3", "{not json")):
            connection.execute(
                lock_waits.insert().values(
                    repository=REPO, number=int(wait_key[1]), wait_key=wait_key, resources='[["dev", "word-count"]]',
                    job_key=f"{REPO}#2", kind="command", payload=payload, created_at=time.time(),
                )
            )  # fmt: skip
    [woken] = locks.release(REPO, 1).woken
    assert woken.job == NewJob(f"{REPO}#2", JobKind.COMMAND, CommandRequest(comment, resumed=True, head="a" * 40))
