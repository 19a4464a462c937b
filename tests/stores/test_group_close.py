"""commit="group": closing the store loses nothing handed over.

What is queued is stored and called back before the connections close; a slice handed
over while the store closes is stored or refused.
"""

import queue
import threading

import pytest
from bounds import TIMEOUT
from group_support import ON_GROUP_STORES, Callbacks, rec, saving, submit

from actors import (
    StoreError,
)
from actors.stores._group import Slice

pytestmark = ON_GROUP_STORES


class _WatchedQueue:
    """The writer's queue, telling the test when ``close()`` queues the writer's stop mark.

    ``pause_put`` (a thread) makes that thread's next put wait until the stop mark is
    queued, unless the submitter holds the writer's lock (then close cannot come between).
    """

    def __init__(self, writer):
        self._writer = writer
        self._queue = queue.SimpleQueue()
        self.get = self._queue.get
        self.get_nowait = self._queue.get_nowait
        self.qsize = self._queue.qsize
        self.stopping = threading.Event()
        self.pause_put = None
        self.paused = threading.Event()

    def put(self, item):
        if item is not None and threading.current_thread() is self.pause_put:
            self.paused.set()
            if not self._writer._lock.locked():
                self.stopping.wait(TIMEOUT)
        self._queue.put(item)
        if item is None:
            self.stopping.set()


def _watch(store):
    writer = store._writer
    assert writer._thread is None  # installed before the writer thread binds the queue
    watched = _WatchedQueue(writer)
    writer._queue = watched
    return watched


def test_close_stores_what_is_queued_and_calls_back_before_the_connections_close(make_sql_store):
    store = make_sql_store(commit="group")
    watched = _watch(store)
    jobs = [rec(f"j{i}") for i in range(5)]
    for job in jobs:
        store.create(job)
    # The writer waits in a callback until close() asks it to stop, so these are queued.
    store._writer.submit(Slice(), lambda error: watched.stopping.wait(TIMEOUT))
    calls = Callbacks()
    for i, job in enumerate(jobs):
        # Each callback reads through the store: its connections must still be open.
        submit(store, calls(i, also=lambda i=i: store.load(f"j{i}").step), saving(job, step="z"))
    store.close()
    assert [(key, error, read) for key, error, _, read in calls.calls] == [
        (i, None, "z") for i in range(5)
    ]
    other = make_sql_store()
    assert all(other.load(job.id).step == "z" for job in jobs)
    # Closed: a slice is refused, with or without a callback, and nobody is called back.
    late = Callbacks()
    with pytest.raises(StoreError, match="closed"):
        submit(store, late("late"), saving(jobs[0], step="late"))
    store.begin_slice()
    saving(jobs[1], step="late")(store)
    with pytest.raises(StoreError, match="closed"):
        store.end_slice()
    with pytest.raises(StoreError, match="closed"):
        store.save(jobs[2])  # outside a slice too
    assert late.calls == []
    assert other.load("j0").step == "z" and other.load("j1").step == "z"


def test_a_slice_handed_over_while_the_store_closes_is_stored_or_refused(make_sql_store):
    # A runner ending its slice at the moment the store closes must either be refused
    # (StoreError) or have its slice stored and its callback called: never neither.
    store = make_sql_store(commit="group")
    watched = _watch(store)
    job = rec("j")
    store.create(job)
    started = threading.Event()
    store._writer.submit(Slice(), lambda error: started.set())
    assert started.wait(TIMEOUT)
    calls = Callbacks()
    refused = []

    def runner():
        try:
            submit(store, calls("late"), saving(job, step="late"))
        except StoreError as exc:
            refused.append(exc)

    thread = threading.Thread(target=runner)
    watched.pause_put = thread  # it passes the closed check, then pauses before queueing
    thread.start()
    assert watched.paused.wait(TIMEOUT)
    store.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert refused or calls.calls, (
        "end_slice(then) neither raised nor had its callback called: the slice was queued "
        "behind the writer's stop mark and silently dropped"
    )
