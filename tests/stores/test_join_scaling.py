"""A join's cost per arrival does not grow with the width of the split.

Counted, not timed: the statements an arrival runs and the bytes it moves (parameters sent,
values fetched) are the same for the last branch of a wide split as for the first. When
arrivals lived in a map on the parent's row, each one read and rewrote the whole map, so
the last arrival of N moved O(N) bytes and a split cost O(N^2).
"""

import pytest
from records import record

from actors._job import JobRecord, JobState

from .conftest import SQL_KINDS

WIDTH = 400


class Traffic:
    """What the store's transactions sent and fetched while ``on``."""

    def __init__(self):
        self.on = False
        self.statements = 0
        self.bytes = 0

    def reset(self):
        self.statements = self.bytes = 0

    def count(self, sql, params):
        if self.on:
            self.statements += 1
            self.bytes += _size(params)

    def fetched(self, rows):
        if self.on:
            self.bytes += _size(rows)
        return rows


def _size(value):
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    if isinstance(value, (str, bytes)):
        return len(value)
    return 8


class _Cursor:
    def __init__(self, cursor, traffic):
        self._cursor, self._traffic = cursor, traffic

    def fetchone(self):
        return self._traffic.fetched(self._cursor.fetchone())

    def fetchall(self):
        return self._traffic.fetched(self._cursor.fetchall())

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def spy(store):
    """Count what ``store``'s write transactions (single and group) run and move."""
    traffic = Traffic()

    def wrap(execute):
        def spied(sql, params=()):
            traffic.count(sql, params)
            return _Cursor(execute(sql, params), traffic)

        return spied

    def wrap_many(executemany):
        def spied(sql, many):
            for params in many:
                traffic.count(sql, params)
            return executemany(sql, many)

        return spied

    write, write_group = store._write, store._write_group
    store._write = lambda fn, what: write(lambda ex: fn(wrap(ex)), what)
    store._write_group = lambda fn, what: write_group(
        lambda ex, many: fn(wrap(ex), wrap_many(many)), what
    )
    return traffic


def _split(store, n):
    parent = record("p", step="fan", data={}, state=JobState.WAITING)
    parent.gen, parent.split_step, parent.split_total = 1, "fan", n
    kids = [JobRecord.branch(f"p.{i}", "p", "w", 1, "b", {"i": i}, "p", i, 1) for i in range(n)]
    store.save_split(parent, kids)


def _arrive(store, i, *, grouped):
    data = {"i": i, "result": "x" * 20}
    if not grouped:
        return store.record_arrival("p", 1, i, data, join_step="join")
    store.begin_slice()
    store.record_arrival("p", 1, i, data, join_step="join")
    store.end_slice()
    return None


@pytest.mark.parametrize("grouped", [False, True], ids=["step", "group"])
@pytest.mark.parametrize("kind", SQL_KINDS)
def test_the_last_arrival_of_a_wide_split_costs_what_the_second_does(
    kind, grouped, tmp_path, request
):
    from .conftest import StoreFactory

    factory = StoreFactory(kind, tmp_path, request)
    try:
        store = factory(commit="group") if grouped else factory()
        _split(store, WIDTH)
        traffic = spy(store)
        _arrive(store, 0, grouped=grouped)  # the first names the join step: one write more
        traffic.on = True
        _arrive(store, 1, grouped=grouped)
        second = (traffic.statements, traffic.bytes)
        traffic.on = False
        for i in range(2, WIDTH - 1):
            _arrive(store, i, grouped=grouped)
        traffic.reset()
        traffic.on = True
        got = _arrive(store, WIDTH - 1, grouped=grouped)
        last = (traffic.statements, traffic.bytes)
        traffic.on = False
        if not grouped:
            assert got == (WIDTH, WIDTH)
        loaded = store.load("p")
        assert (loaded.state, loaded.joined) == (JobState.READY, True)
        assert sorted(loaded.arrivals) == list(range(WIDTH))
        # The last one also fires the join: one statement and a few dozen bytes more,
        # never anything that grows with WIDTH.
        assert last[0] <= second[0] + 1, (second, last)
        assert last[1] <= second[1] + 200, (second, last)
    finally:
        factory.close()


@pytest.mark.parametrize("commit", ["step", "group"])
def test_a_saved_parent_replaces_the_arrivals_recorded_at_its_split(make_store, commit):
    # An operator reopening branch 1 saves the parent without it: branch 1 must arrive
    # again before the join fires, and the others count once each.
    store = make_store() if make_store.kind == "memory" else make_store(commit=commit)
    _split(store, 3)
    assert store.record_arrival("p", 1, 0, {"i": 0}, join_step="join") == (1, 3)
    assert store.record_arrival("p", 1, 1, {"i": 1}, join_step="join") == (2, 3)
    parent = store.load("p")
    assert sorted(parent.arrivals) == [0, 1]
    del parent.arrivals[1]
    store.save(parent)
    assert sorted(store.load("p").arrivals) == [0]
    assert store.record_arrival("p", 1, 0, {"i": 0}, join_step="join") == (0, 3)  # a repeat
    assert store.record_arrival("p", 1, 2, {"i": 2}, join_step="join") == (2, 3)
    assert store.load("p").state is JobState.WAITING
    assert store.record_arrival("p", 1, 1, {"i": 1}, join_step="join") == (3, 3)
    loaded = store.load("p")
    assert (loaded.state, sorted(loaded.arrivals)) == (JobState.READY, [0, 1, 2])
