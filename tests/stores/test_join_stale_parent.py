"""An arrival that read its parent before the join fired writes nothing stale after it.

A branch's arrival reads its split's parent, then counts and, if it completes the join,
stores the parent READY at it. Each test holds one arrival just after that read while
another branch fires the join, the join runs and the parent is saved at its next step
(and, in one, splits again). The held arrival then goes on: it must count nothing and
leave the parent as last saved. Had it put back the parent READY at the join, a crash
then (the Scheduler resumes from the store) would run the join, and its step's effect,
twice; had it entered its data in the next split's arrivals, that split would join with
it.

The SQL stores read the parent locked, in the arrival's transaction: there the other
branch waits for the held arrival, which goes first. ``memory://`` takes no lock (every
arrival of a wide split would queue on it): there the others go on at once, and the held
arrival must see that it came too late.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from bounds import TIMEOUT
from records import record, saved_split

from actors import JobState
from actors.stores import MemoryStore

PATIENCE = 1.0  # seconds the other branches get while a SQL arrival holds the parent locked

rec = partial(record, workflow="quote", step="fan")
split = partial(saved_split, build=rec)


def _hold_after_parent_read(store: Any, meanwhile: Callable[[], None]) -> Callable[[], bool]:
    """Run ``meanwhile`` on another thread once this thread's next arrival read its parent.

    Returns a function that says whether ``meanwhile`` had finished before the arrival
    went on (it then waits for it to finish).
    """
    me = threading.current_thread()
    done = threading.Event()
    state = {"armed": True, "early": False}
    errors: list[BaseException] = []

    def run() -> None:
        try:
            meanwhile()
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)
        finally:
            done.set()

    def hook() -> None:
        state["armed"] = False
        threading.Thread(target=run, daemon=True).start()
        # No lock held (memory): the others finish. A SQL parent locked: they wait for it.
        state["early"] = done.wait(TIMEOUT if isinstance(store, MemoryStore) else PATIENCE)

    def mine() -> bool:
        return bool(state["armed"]) and threading.current_thread() is me

    if isinstance(store, MemoryStore):
        find = store._find

        def hooked_find(job_id: str) -> Any:
            saved = find(job_id)
            if mine():
                hook()
            return saved

        store._find = hooked_find
    else:
        write = store._write

        def hooked_write(fn: Callable[..., Any], what: str) -> Any:
            if not mine():
                return write(fn, what)

            def locked(execute: Callable[..., Any]) -> Any:
                def first(sql: str, params: Any) -> Any:
                    out = execute(sql, params)  # the parent's row, read for the count
                    if mine():
                        hook()
                    return out

                return fn(first)

            return write(locked, what)

        store._write = hooked_write

    def finished_first() -> bool:
        assert done.wait(TIMEOUT), "the other branches never went on"
        assert not errors, errors
        return bool(state["early"])

    return finished_first


def _run_join(store: Any, parent_id: str, join: str, then: str) -> None:
    """The released parent runs its join and is saved at ``then`` (as a runner would)."""
    parent = store.load(parent_id)
    assert (parent.state, parent.step, parent.joined) == (JobState.READY, join, True)
    parent.data = {**parent.data, "merged": sorted(parent.arrivals)}
    parent.arrivals, parent.split_total = {}, 0
    parent.step, parent.state, parent.event = then, JobState.RUNNING, None
    store.save(parent)


def _check_order(store: Any, finished_first: Callable[[], bool]) -> None:
    """Memory let the others go on while the arrival was held; SQL made them wait."""
    assert finished_first() is isinstance(store, MemoryStore)


def _split_again(store: Any, parent_id: str, gen: int, n: int) -> None:
    """The parent, gone on from its join, splits again into ``n`` branches."""
    parent = store.load(parent_id)
    parent.state, parent.gen, parent.split_step, parent.split_total = (
        JobState.WAITING,
        gen,
        "fan",
        n,
    )
    parent.joined, parent.join_step, parent.arrivals = False, None, {}
    branches = [
        rec(
            f"{parent_id}.{gen}.{i}",
            case_id=parent.case_id,
            parent_id=parent_id,
            branch_index=i,
            gen=gen,
        )
        for i in range(n)
    ]
    store.save_split(parent, branches)


@pytest.mark.parametrize(("total", "needed"), [(2, 1), (3, 2)])
def test_a_losing_arrival_held_across_the_join_leaves_the_joined_parent(store, total, needed):
    """A Discriminator (1 of 2) and a partial join (2 of 3): the join runs exactly once."""
    parent, _ = split(store, total)
    arrive = partial(store.record_arrival, parent.id, 1, join_step="first", needed=needed)
    for i in range(2, needed + 1):  # arrivals before: none fires
        assert arrive(i, {"b": i}) == (i - 1, total)
    got: dict[str, tuple[int, int]] = {}

    def winner() -> None:
        got["winner"] = arrive(0, {"b": 0})
        _run_join(store, parent.id, "first", "book")

    finished_first = _hold_after_parent_read(store, winner)
    got["held"] = arrive(1, {"b": 1})  # held after its read of the parent
    _check_order(store, finished_first)
    # The join fired once: memory's held arrival came too late; SQL's went first.
    first = "winner" if isinstance(store, MemoryStore) else "held"
    assert got == {first: (needed, total), ({"winner", "held"} - {first}).pop(): (0, total)}
    saved = store.load(parent.id)  # as the join left it: a resume runs no join again
    assert (saved.state, saved.step, saved.event) == (JobState.RUNNING, "book", None)
    assert saved.split_total == 0
    assert arrive(1, {"b": 1}) == (0, 0)  # no split now


def test_a_repeated_arrival_held_across_the_join_and_the_next_split_counts_nowhere(store):
    """A branch rerun after a crash, held while its split joins and the parent splits again."""
    parent, _ = split(store, 2)
    arrive = partial(store.record_arrival, parent.id, join_step="all")
    assert arrive(1, 0, {"b": 0}) == (1, 2)

    def join_and_split_again() -> None:
        assert arrive(1, 1, {"b": 1}) == (2, 2)
        _run_join(store, parent.id, "all", "fan")
        _split_again(store, parent.id, 2, 2)

    finished_first = _hold_after_parent_read(store, join_and_split_again)
    assert arrive(1, 0, {"b": 0, "stale": True}) == (0, 2)  # the rerun of branch 0 of split 1
    _check_order(store, finished_first)
    saved = store.load(parent.id)
    assert (saved.state, saved.gen, saved.joined, saved.arrivals) == (
        JobState.WAITING,
        2,
        False,
        {},
    )
    assert arrive(2, 0, {"b": 0}) == (1, 2)  # the new split counts its own branch 0
    assert arrive(2, 1, {"b": 1}) == (2, 2)
    assert store.load(parent.id).arrivals == {0: {"b": 0}, 1: {"b": 1}}


def test_a_parent_saved_after_its_join_reads_without_the_split_arrivals(store):
    """The join's save ends the split: a load has no arrivals (as the SQL row has none)."""
    parent, _ = split(store, 2)
    for i in range(2):
        store.record_arrival(parent.id, 1, i, {"b": i}, join_step="all")
    assert store.load(parent.id).arrivals == {0: {"b": 0}, 1: {"b": 1}}
    _run_join(store, parent.id, "all", "next")
    assert store.load(parent.id).arrivals == {}
