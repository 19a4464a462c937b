"""The Store contract for joins: each branch's arrival counts once, and the join fires once.

Run against every store (memory, SQLite, PostgreSQL), with arrivals from one thread and
from eight at once.
"""

import threading
from functools import partial

import pytest
from bounds import TIMEOUT
from records import Order, record, saved_split

from actors import JobNotFoundError, JobState

rec = partial(record, workflow="order", step="reserve")
split = partial(saved_split, build=rec)


def test_record_arrival_counts_each_branch_once(store):
    parent, _ = split(store, 3, gen=2)
    assert store.record_arrival(parent.id, 2, 0, {"r": 0}) == (1, 3)
    assert store.record_arrival(parent.id, 2, 0, {"r": 0}) == (0, 3)  # a retry counts nothing
    assert store.record_arrival(parent.id, 1, 1, {"r": 1}) == (0, 3)  # an earlier split's branch
    assert store.record_arrival(parent.id, 2, 2, {"r": 2}) == (2, 3)
    assert store.record_arrival(parent.id, 2, 1, Order(3)) == (3, 3)
    assert store.load(parent.id).arrivals == {0: {"r": 0}, 1: Order(3), 2: {"r": 2}}


def test_record_arrival_with_join_step_releases_the_parent(store):
    parent, _ = split(store, 2)
    store.record_arrival(parent.id, 1, 1, {"b": 1}, join_step="join")
    assert store.load(parent.id).state is JobState.WAITING
    assert store.record_arrival(parent.id, 1, 0, {"b": 0}, join_step="join") == (2, 2)
    loaded = store.load(parent.id)
    assert (loaded.state, loaded.step, loaded.joined) == (JobState.READY, "join", True)
    assert loaded.event == ("join", "join", None)
    assert loaded.arrivals == {0: {"b": 0}, 1: {"b": 1}}
    assert store.record_arrival(parent.id, 1, 0, {"b": 0}, join_step="join") == (0, 2)


def test_record_arrival_for_an_unknown_parent(store):
    with pytest.raises(JobNotFoundError):
        store.record_arrival("missing", 1, 0, {})


@pytest.mark.parametrize("join_step", [None, "join"])
def test_record_arrival_fires_exactly_once_under_8_threads(make_store, join_step):
    stores = [make_store()]
    if make_store.kind != "memory":
        stores.append(make_store())  # half the threads on a second connection pool / file handle
    store = stores[0]
    parent, _ = split(store, 8)
    start = threading.Barrier(8)
    results, errors = [], []
    lock = threading.Lock()

    def arrive(i):
        try:
            s = stores[i % len(stores)]
            start.wait(timeout=TIMEOUT)
            for _ in range(2):  # each branch arrives twice (a retry after a crash)
                got = s.record_arrival(parent.id, 1, i, {"i": i}, join_step=join_step)
                with lock:
                    results.append(got)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=2 * TIMEOUT)
    assert not errors
    counted = sorted(a for a, _ in results if a)
    assert counted == list(range(1, 9))  # each branch counted once, in some order
    assert [r for r in results if r == (8, 8)] == [(8, 8)]  # the join fires exactly once
    assert all(total == 8 for _, total in results)
    assert store.load(parent.id).arrivals == {i: {"i": i} for i in range(8)}
