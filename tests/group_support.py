"""Helpers of the group-commit tests: stores whose writer thread commits many slices at once.

Store-level tests drive ``begin_slice`` / ``end_slice(then)`` by hand. To put several
slices in one group without sleeping, a test first *plugs* the writer (``plugged``): it
submits an empty slice whose callback blocks the writer thread on an event; slices
submitted meanwhile queue up and are taken as one group once the plug lets go.
"""

import contextlib
import threading
from functools import partial

import pytest
from bounds import TIMEOUT
from records import record

from actors import JobState
from actors.stores._group import Slice

# Every group-commit test runs on SQLite with the writer thread's own connection, on
# SQLite with a writer process (the store factory makes its group stores so), and on
# PostgreSQL: each test module sets ``pytestmark = ON_GROUP_STORES``.
ON_GROUP_STORES = pytest.mark.parametrize(
    "make_sql_store",
    ["sqlite", "sqlite-process", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)

LATER = 10**10  # a "now" after every lease taken in these tests has expired


rec = partial(record, data={})


def split(store, parent_id, n, *, gen=1):
    """A parent WAITING on a split of ``n`` READY branches (saved directly, not in a slice)."""
    parent = rec(parent_id, state=JobState.RUNNING)
    store.create(parent)
    parent.state, parent.gen, parent.split_step, parent.split_total = (
        JobState.WAITING,
        gen,
        "fan",
        n,
    )
    kids = [
        rec(
            f"{parent_id}.{i}",
            case_id=parent.case_id,
            step=f"b{i}",
            data={"i": i},
            parent_id=parent_id,
            branch_index=i,
            parent_gen=gen,
        )
        for i in range(n)
    ]
    store.save_split(parent, kids)
    return kids


class Callbacks:
    """``end_slice`` callbacks that record what they were called with, where, and in what order."""

    def __init__(self):
        self.calls = []  # (key, error, thread), in the order the writer called them
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __call__(self, key, also=None):
        def then(error):
            extra = also() if also is not None else None
            with self._changed:
                self.calls.append((key, error, threading.current_thread(), extra))
                self._changed.notify_all()

        return then

    def wait(self, n):
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= n, TIMEOUT), self.calls
            return list(self.calls)

    def errors(self):
        return {key: error for key, error, _, _ in self.calls}


@contextlib.contextmanager
def plugged(store):
    """Hold the writer thread until the block ends: what is submitted meanwhile is one group."""
    inside, release = threading.Event(), threading.Event()

    def hold(error):
        inside.set()
        release.wait(TIMEOUT)

    store._writer.submit(Slice(), hold)
    assert inside.wait(TIMEOUT), "the writer thread never ran the plug's callback"
    try:
        yield
    finally:
        release.set()


def submit(store, then, *actions):
    """Run ``actions`` (functions of the store) inside one slice and hand it over with ``then``."""
    store.begin_slice()
    for action in actions:
        action(store)
    store.end_slice(then)


def saving(job, **changes):
    """An action: save ``job`` with ``changes`` applied."""

    def action(store):
        for name, value in changes.items():
            setattr(job, name, value)
        store.save(job)

    return action


def arriving(parent_id, index, data, *, gen=1, join_step="join", needed=None):
    """An action: record a branch's arrival (inside a group store's slice: None)."""

    def action(store):
        got = store.record_arrival(parent_id, gen, index, data, join_step=join_step, needed=needed)
        assert got is None or not store.background_commit

    return action


def counters(store):
    return store._writer.groups, store._writer.slices
