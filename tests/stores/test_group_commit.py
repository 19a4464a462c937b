"""commit="group": one writer thread stores the slices of every runner, many per transaction.

Store-level tests drive ``begin_slice`` / ``end_slice(then)`` by hand. To put several
slices in one group without sleeping, a test first *plugs* the writer: it submits an
empty slice whose callback blocks the writer thread on an event; slices submitted
meanwhile queue up and are taken as one group once the plug lets go. Engine-level tests
run a Mediator on a group store.

Three tests here fail against the implementation as committed; each names the bug it
exposes in its comment and its assertion message.
"""

import contextlib
import logging
import queue
import threading
import time
from functools import partial

import pytest
from bounds import TIMEOUT
from records import record

from actors import (
    JobNotFoundError,
    JobState,
    LeaseLostError,
    Mediator,
    ParallelSplit,
    Sequential,
    StoreError,
    Synchronize,
    Workflow,
)
from actors.stores import open_store
from actors.stores._group import Slice

# Every test here runs on SQLite with the writer thread's own connection, on SQLite with
# a writer process (the factory makes its group stores so), and on PostgreSQL.
pytestmark = pytest.mark.parametrize(
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


@pytest.fixture
def group(make_sql_store):
    return make_sql_store(commit="group")


# -- the store, one slice at a time ---------------------------------------------------------------


def test_open_store_makes_a_group_store(make_sql_store):
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    store = open_store(url, commit="group")
    make_sql_store.made.append(store)
    assert (store.commit, store.background_commit, store._writer is not None) == (
        "group",
        True,
        True,
    )
    assert make_sql_store().background_commit is True  # group commit is the default
    assert make_sql_store(commit="step").background_commit is False  # stores inline
    with pytest.raises(ValueError, match="'group'"):
        make_sql_store(commit="groups")


def test_nothing_of_a_slice_is_stored_until_end_slice_returns(group, make_sql_store):
    other = make_sql_store()  # another connection: sees only what is committed
    kids = split(group, "p", 2)
    a = rec("a")
    group.create(a)
    group.begin_slice()
    for n in range(3):
        a.step, a.data, a.state = f"s{n}", {"n": n}, JobState.RUNNING
        group.save(a)
    kids[0].step, kids[0].state = "join", JobState.DONE
    group.save(kids[0])
    assert group.record_arrival("p", 1, 0, {"k": 0}, join_step="join") is None
    for store in (group, other):
        assert (store.load("a").step, store.load("a").data) == ("a", {})
        assert store.load(kids[0].id).state is JobState.READY
        loaded = store.load("p")
        assert (loaded.arrivals, loaded.join_step) == ({}, None)
        assert len(store.history("a")) == 1
    group.end_slice()
    for store in (group, other):
        got = store.load("a")
        assert (got.step, got.data, got.state) == ("s2", {"n": 2}, JobState.RUNNING)
        assert store.load(kids[0].id).state is JobState.DONE
        loaded = store.load("p")
        assert (loaded.state, loaded.arrivals, loaded.join_step) == (
            JobState.WAITING,
            {0: {"k": 0}},
            "join",
        )
        assert [(h[0], h[2]) for h in store.history("a")] == [
            ("a", "ready"),
            ("s0", "running"),
            ("s1", "running"),
            ("s2", "running"),
        ]
        assert [h[0] for h in store.history(kids[0].id)] == ["b0", "join"]
    # Outside a slice the group store records an arrival at once, and counts the one above.
    assert group.record_arrival("p", 1, 1, {"k": 1}, join_step="join") == (2, 2)
    assert other.load("p").state is JobState.READY


def test_end_slice_with_then_returns_at_once_and_calls_back_after_the_commit(group, make_sql_store):
    other = make_sql_store()
    a = rec("a")
    group.create(a)
    calls = Callbacks()
    # What another connection reads of the job while the callback runs.
    seen = calls("a", also=lambda: (other.load("a").step, len(other.history("a"))))
    with plugged(group):
        submit(group, seen, saving(a, step="b", state=JobState.RUNNING))
        # end_slice returned while the writer is busy: nothing is stored, nobody called back
        assert calls.calls == []
        assert other.load("a").step == "a"
    calls.wait(1)
    submit(group, calls("later"), saving(a, step="c"))  # queued behind it: a second call
    [first, second] = calls.wait(2)  # would come before this one
    key, error, thread, read = first
    assert (key, error, read) == ("a", None, ("b", 2))
    assert thread is not threading.current_thread()
    assert thread.name.startswith("actors-writer-")
    assert second[:2] == ("later", None) and second[2] is thread
    assert other.load("a").step == "c"


def test_an_empty_slice_with_a_callback_is_called_back_in_order(group):
    calls = Callbacks()
    a = rec("a")
    group.create(a)
    with plugged(group):
        submit(group, calls("saves"), saving(a, step="b"))
        group.end_slice(calls("empty"))  # no begin_slice: nothing saved, still in order
        submit(group, calls("nothing"))
    got = calls.wait(3)
    assert [(key, error) for key, error, _, _ in got] == [
        ("saves", None),
        ("empty", None),
        ("nothing", None),
    ]
    assert group.load("a").step == "b"


def test_saves_outside_a_slice_are_stored_before_they_return(group, make_sql_store):
    other = make_sql_store()
    a = rec("a")
    groups0, slices0 = counters(group)
    group.create(a)  # an admission's create and the Scheduler's saves
    assert other.load("a").step == "a"
    a.step, a.state = "b", JobState.WAITING
    group.save(a)
    assert (other.load("a").step, other.load("a").state) == ("b", JobState.WAITING)
    # A SQLite writer process holds no lock of this process, so they go through its
    # groups; with the writer thread (on the process's write lock) and on PostgreSQL
    # they commit on their own.
    through_writer = 2 if getattr(group, "writer", None) == "process" else 0
    assert counters(group) == (groups0 + through_writer, slices0 + through_writer)
    # A save on the writer thread itself (in a callback) is stored at once: it must not
    # wait for the writer, which is busy running that callback.
    calls = Callbacks()

    def save_c():
        a.step = "c"
        group.save(a)
        return other.load("a").step

    submit(group, calls("cb", also=save_c))
    [(_, error, _, read)] = calls.wait(1)
    assert (error, read) == (None, "c")
    assert [h[0] for h in other.history("a")] == ["a", "b", "c"]


def test_slices_from_several_threads_share_transactions(group, make_sql_store):
    threads_n, per_thread = 4, 25
    jobs = [rec(f"t{t}") for t in range(threads_n)]
    for job in jobs:
        group.create(job)
    calls = Callbacks()
    start = threading.Barrier(threads_n)
    failures = []

    def work(t):
        try:
            start.wait(TIMEOUT)
            for i in range(per_thread):
                submit(group, calls((t, i)), saving(jobs[t], step=f"s{i}", data={"i": i}))
        except Exception as exc:  # reported by the test thread
            failures.append(exc)

    with plugged(group):
        groups0, slices0 = counters(group)
        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(TIMEOUT)
        assert not failures
    got = calls.wait(threads_n * per_thread)
    groups, slices = counters(group)
    assert slices - slices0 == threads_n * per_thread
    assert groups - groups0 < slices - slices0
    assert groups - groups0 == 1  # everything queued behind the plug went in one transaction
    assert all(error is None for _, error, _, _ in got)
    assert len({thread for _, _, thread, _ in got}) == 1  # all on the writer thread
    for t in range(threads_n):
        assert [i for (tt, i), _, _, _ in got if tt == t] == list(range(per_thread))
    other = make_sql_store()
    for t in range(threads_n):
        loaded = other.load(f"t{t}")
        assert (loaded.step, loaded.data) == (f"s{per_thread - 1}", {"i": per_thread - 1})
        history = other.history(f"t{t}")
        assert [h[0] for h in history] == ["a"] + [f"s{i}" for i in range(per_thread)]


def test_many_jobs_in_one_group_keep_indexed_columns_right(group):
    jobs = [rec(f"j{i}") for i in range(700)]  # more than one chunk of ids to read
    group.begin_slice()
    for job in jobs:
        group.create(job)
    group.end_slice()
    calls = Callbacks()
    with plugged(group):
        for i, job in enumerate(jobs):
            state, due = (JobState.WAITING, 5.0) if i % 2 else (JobState.DONE, None)
            submit(group, calls(i), saving(job, state=state, due=due))
    assert all(error is None for _, error, _, _ in calls.wait(700))
    counts = group.counts()
    assert (counts[JobState.WAITING], counts[JobState.DONE]) == (350, 350)
    assert len(group.due_timers(10.0)) == 350
    assert group.due_timers(1.0) == []
    assert len(group.unfinished()) == 350


# -- joins counted through groups -----------------------------------------------------------------


def _branch_slice(parent_id, kid, data, **arrival):
    """What a runner's slice holds for a branch reaching its join: the arrival, then DONE."""
    return (
        arriving(parent_id, kid.branch_index, data, **arrival),
        saving(kid, step="join", state=JobState.DONE, data=data),
    )


def test_arrivals_in_one_group_fire_the_join_once_with_every_branch(group, make_sql_store):
    n = 5
    kids = split(group, "p", n)
    calls = Callbacks()
    with plugged(group):
        for i, kid in enumerate(kids):
            if i == n - 1:
                # A repeat of branch 0 (a re-run after a crash) with other data counts
                # nothing, nor does it complete the join in place of the last branch.
                submit(group, calls("again"), arriving("p", 0, {"b": "again"}))
            submit(group, calls(i), *_branch_slice("p", kid, {"b": i}))
    assert all(error is None for _, error, _, _ in calls.wait(n + 1))
    loaded = make_sql_store().load("p")
    assert (loaded.state, loaded.step, loaded.joined, loaded.join_step) == (
        JobState.READY,
        "join",
        True,
        "join",
    )
    assert loaded.event == ("join", "join", None)
    assert loaded.arrivals == {i: {"b": i} for i in range(n)}
    assert all(group.load(kid.id).state is JobState.DONE for kid in kids)
    # Once joined, nothing counts: neither directly nor through a group.
    assert group.record_arrival("p", 1, 1, {"b": "late"}, join_step="join") == (0, n)
    submit(group, calls("late"), arriving("p", 2, {"b": "late"}))
    calls.wait(n + 2)
    assert group.load("p").arrivals == {i: {"b": i} for i in range(n)}


def test_arrivals_spread_over_groups_count_from_what_is_stored(group):
    kids = split(group, "p", 4)
    calls = Callbacks()
    with plugged(group):  # a first group: two of four arrive, and one of an earlier split
        submit(group, calls(0), *_branch_slice("p", kids[0], {"b": 0}))
        submit(group, calls(1), *_branch_slice("p", kids[1], {"b": 1}))
        submit(group, calls("stale"), arriving("p", 3, {"b": "stale"}, gen=0))
    calls.wait(3)
    loaded = group.load("p")
    assert (loaded.state, loaded.joined, loaded.arrivals) == (
        JobState.WAITING,
        False,
        {0: {"b": 0}, 1: {"b": 1}},
    )
    with plugged(group):  # a second: the other two, and branch 1 again
        submit(group, calls(2), *_branch_slice("p", kids[2], {"b": 2}))
        submit(group, calls("again"), arriving("p", 1, {"b": "again"}))
        submit(group, calls(3), *_branch_slice("p", kids[3], {"b": 3}))
    assert all(error is None for _, error, _, _ in calls.wait(6))
    loaded = group.load("p")
    assert (loaded.state, loaded.step, loaded.joined) == (JobState.READY, "join", True)
    assert loaded.arrivals == {i: {"b": i} for i in range(4)}


def test_a_first_wins_join_takes_the_first_arrival_of_the_group(group):
    kids = split(group, "p", 3)
    calls = Callbacks()
    with plugged(group):
        for i in (2, 0, 1):  # queued in this order: branch 2 wins
            submit(group, calls(i), *_branch_slice("p", kids[i], {"b": i}, needed=1))
    assert all(error is None for _, error, _, _ in calls.wait(3))
    loaded = group.load("p")
    assert (loaded.state, loaded.step, loaded.joined) == (JobState.READY, "join", True)
    assert loaded.event == ("join", "join", None)
    assert loaded.arrivals == {2: {"b": 2}}  # the later ones came after the join fired
    assert all(group.load(kid.id).state is JobState.DONE for kid in kids)  # still stored


def test_an_arrival_queued_after_its_parent_ended_counts_nothing_as_in_other_modes(
    group, make_sql_store
):
    # The slices of a group must come out as if stored one after another, in queue order.
    # Here a parent's final save is queued before the arrival that would complete its
    # join: on its own, the arrival then finds the parent ended and counts nothing.
    def scenario(store, parent_id, run_both):
        kids = split(store, parent_id, 2)
        assert store.record_arrival(parent_id, 1, 0, {"b": 0}, join_step="join") == (1, 2)
        parent = store.load(parent_id)
        ended = saving(parent, state=JobState.CANCELLED, error="cancelled")
        run_both((ended,), _branch_slice(parent_id, kids[1], {"b": 1}))
        loaded = make_sql_store().load(parent_id)
        return loaded.state, loaded.joined, loaded.step, loaded.arrivals

    def one_after_another(*slices):
        for actions in slices:
            sliced.begin_slice()
            for action in actions:
                action(sliced)
            sliced.end_slice()

    def in_one_group(*slices):
        calls = Callbacks()
        with plugged(group):
            for k, actions in enumerate(slices):
                submit(group, calls(k), *actions)
        assert [error for _, error, _, _ in calls.wait(len(slices))] == [None, None]

    sliced = make_sql_store(commit="slice")
    expected = (JobState.CANCELLED, False, "a", {0: {"b": 0}})
    assert scenario(sliced, "q", one_after_another) == expected
    assert scenario(group, "p", in_one_group) == expected, (
        "the arrival was counted against the parent as read before the group and its "
        "join update overwrote the parent's final save: a CANCELLED job came back READY"
    )


# -- a slice that cannot be stored is left out alone ----------------------------------------------


def _as_worker(store, owner):
    store.owner, store.lease_seconds = owner, 30.0
    return store


def _lost(error, job_id, case_id):
    assert isinstance(error, LeaseLostError), error
    assert (error.job_id, error.case_id, error.owner, error.worker) == (job_id, case_id, "w2", "w1")


def test_a_slice_of_a_case_another_worker_holds_is_fenced_alone(make_sql_store):
    w1 = _as_worker(make_sql_store(commit="group"), "w1")
    w2 = _as_worker(make_sql_store(), "w2")  # another worker, on its own connection
    mine = rec("mine")
    w1.create(mine)
    kids = split(w1, "p", 2)
    taken = {
        job.id: job for job in w2.claim("w2", now=LATER, lease_seconds=60.0, limit=1, case_id="p")
    }
    assert set(taken) == {"p", "p.0", "p.1"}
    calls = Callbacks()
    with plugged(w1):
        submit(w1, calls("branch"), saving(kids[0], step="stale", state=JobState.RUNNING))
        submit(w1, calls("mine"), saving(mine, step="b", state=JobState.RUNNING))
        # Its own row, a new job and an arrival at w2's parent: all of it or nothing.
        submit(
            w1,
            calls("mixed"),
            saving(mine, step="c"),
            lambda s: s.create(rec("fresh", case_id="mine", parent_id="mine", branch_index=0)),
            arriving("p", 1, {"b": 1}),
        )
        submit(w1, calls("mine again"), saving(mine, step="d", data={"d": 1}))
    calls.wait(4)
    errors = calls.errors()
    _lost(errors["branch"], "p.0", "p")
    _lost(errors["mixed"], "p", "p")
    assert (errors["mine"], errors["mine again"]) == (None, None)
    other = make_sql_store()
    assert (other.load("mine").step, other.load("mine").data) == ("d", {"d": 1})
    assert [h[0] for h in other.history("mine")] == ["a", "b", "d"]  # nothing of "mixed"
    assert other.get("fresh") is None
    for job_id in ("p", "p.0", "p.1"):
        loaded, before = other.load(job_id), taken[job_id]
        assert (loaded.step, loaded.state, loaded.arrivals) == (
            before.step,
            before.state,
            before.arrivals,
        )
    assert [h[0] for h in other.history("p.0")] == ["b0"]
    # The synchronous end_slice raises it, and so does a save outside a slice.
    w1.begin_slice()
    saving(kids[1], step="stale")(w1)
    with pytest.raises(LeaseLostError) as caught:
        w1.end_slice()
    _lost(caught.value, "p.1", "p")
    with pytest.raises(LeaseLostError) as caught:
        w1.save(kids[1])
    _lost(caught.value, "p.1", "p")
    assert other.load("p.1").step == "b1"
    # The new owner's own group store is not fenced out of the case.
    w2g = _as_worker(make_sql_store(commit="group"), "w2")
    w2g.begin_slice()
    saving(taken["p.0"], step="join", state=JobState.DONE)(w2g)
    arriving("p", 0, {"b": 0})(w2g)
    w2g.end_slice()
    assert other.load("p").arrivals == {0: {"b": 0}}


def test_an_arrival_at_a_missing_parent_leaves_its_slice_out(group, make_sql_store):
    a, b = rec("a"), rec("b")
    group.create(a)
    group.create(b)
    calls = Callbacks()
    with plugged(group):
        submit(group, calls("a"), saving(a, step="x"), arriving("missing", 0, {"a": 1}))
        submit(group, calls("b"), saving(b, step="y"))
    calls.wait(2)
    errors = calls.errors()
    assert isinstance(errors["a"], JobNotFoundError)
    assert "missing" in str(errors["a"])
    assert errors["b"] is None
    other = make_sql_store()
    assert (other.load("a").step, other.load("b").step) == ("a", "y")
    assert [h[0] for h in other.history("a")] == ["a"]
    group.begin_slice()
    arriving("missing", 1, {})(group)
    with pytest.raises(JobNotFoundError):
        group.end_slice()


def test_a_failed_group_transaction_reaches_every_callback_and_the_writer_goes_on(
    group, make_sql_store, monkeypatch, caplog
):
    jobs = [rec(f"j{i}") for i in range(3)]
    for job in jobs:
        group.create(job)
    # A writer process's group is handed over (_send_group); the writer thread's is
    # written in one transaction (_write_group). Either way the first group fails.
    name = "_send_group" if getattr(group, "writer", "thread") == "process" else "_write_group"
    real = getattr(group, name)
    failures = []

    def failing(first, *rest):
        if not failures:
            what = rest[0] if rest else f"store a group of {len(first)} slice(s)"
            failures.append(what)
            raise StoreError(f"{group.url}: cannot {what}: the disk is on fire")
        return real(first, *rest)

    monkeypatch.setattr(group, name, failing)
    calls = Callbacks()
    with plugged(group):
        groups0, slices0 = counters(group)
        for i, job in enumerate(jobs):
            submit(group, calls(i), saving(job, step="x", state=JobState.RUNNING))
    got = calls.wait(3)
    assert failures == ["store a group of 3 slice(s)"]
    errors = [error for _, error, _, _ in got]
    assert all(isinstance(error, StoreError) and "on fire" in str(error) for error in errors)
    assert errors[0] is errors[1] is errors[2]  # the one reason, to each slice of the group
    assert counters(group) == (groups0, slices0)  # no transaction was committed
    assert "a group of 3 slice(s) was not stored" in caplog.text
    other = make_sql_store()
    assert all(other.load(job.id).step == "a" for job in jobs)
    assert all(len(other.history(job.id)) == 1 for job in jobs)
    # The writer is still there: the next slices are stored.
    for i, job in enumerate(jobs):
        submit(group, calls(f"again {i}"), saving(job, step="y"))
    assert all(error is None for _, error, _, _ in calls.wait(6)[3:])
    assert all(other.load(job.id).step == "y" for job in jobs)
    assert all([h[0] for h in other.history(job.id)] == ["a", "y"] for job in jobs)


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


# -- the engine on a group store ------------------------------------------------------------------


def _fan_flow(runs=None, gate=None):
    """Steps: start, a split into 3 branches of two steps each, a join (merge), end.

    ``runs`` records each run of "start"; with ``gate``, "start" waits until it is set.
    """

    def start(data):
        if gate is not None:
            gate.wait(TIMEOUT)
        if runs is not None:
            runs.append("start")
        data["started"] = True

    def first(k):
        def task(data):
            data[f"v{k}"] = data["i"] * (k + 1)

        return task

    def second(k):
        def task(data):
            data[f"w{k}"] = data[f"v{k}"] + 1

        return task

    def merge(parent, branches):
        for k, branch in enumerate(branches):
            parent[f"v{k}"], parent[f"w{k}"] = branch[f"v{k}"], branch[f"w{k}"]
        return parent

    def end(data):
        data["total"] = sum(data[f"v{k}"] + data[f"w{k}"] for k in range(3))

    steps = [
        Sequential("start", start, next="fan"),
        ParallelSplit("fan", branches=["b0", "b1", "b2"]),
        Synchronize("join", merge=merge, next="end"),
        Sequential("end", end),
    ]
    for k in range(3):
        steps += [
            Sequential(f"b{k}", first(k), next=f"b{k}x"),
            Sequential(f"b{k}x", second(k), next="join"),
        ]
    return Workflow("fan", steps, start="start")


def _expected(i):
    data = {"i": i, "started": True, "total": 12 * i + 3}
    for k in range(3):
        data[f"v{k}"] = i * (k + 1)
        data[f"w{k}"] = i * (k + 1) + 1
    return data


PARENT_HISTORY = [
    ("start", "ready"),
    ("fan", "running"),
    ("fan", "waiting"),
    ("end", "running"),
    ("end", "done"),
]


def _branch_history(k):
    return [(f"b{k}", "ready"), (f"b{k}x", "running"), ("join", "running"), ("join", "done")]


def _check_cases(factory, store, jobs):
    for i, job in enumerate(jobs):
        assert job.state is JobState.DONE, job.error
        assert job.data == _expected(i)
        assert [(h[0], h[2]) for h in store.history(job.id)] == PARENT_HISTORY
        kids = factory.raw("SELECT id, branch_index FROM jobs WHERE parent_id = ?", (job.id,))
        assert sorted(k for _, k in kids) == [0, 1, 2]
        for kid_id, k in kids:
            assert [(h[0], h[2]) for h in store.history(kid_id)] == _branch_history(k)
    counts = store.counts()
    assert counts[JobState.DONE] == sum(counts.values()) == 4 * len(jobs)


@pytest.fixture
def group_url(make_sql_store):
    return make_sql_store.url or f"sqlite:///{make_sql_store.path}"


def test_the_engine_runs_splits_and_joins_to_done_on_a_group_store(make_sql_store, group_url):
    store = open_store(group_url, **make_sql_store.group)
    with Mediator([_fan_flow()], runners=4, store=store) as mediator:
        handles = [mediator.schedule("fan", {"i": i}) for i in range(40)]
        jobs = [h.result(timeout=30) for h in handles]
        assert mediator.get_job(jobs[7].id).data == _expected(7)
    check = make_sql_store()
    _check_cases(make_sql_store, check, jobs)
    assert store._writer.slices >= 40 * 4  # every root's and branch's slices went through it


def test_a_batch_scheduled_at_once_is_one_slice_and_runs_to_done(make_sql_store, group_url):
    release = threading.Event()
    store = open_store(group_url, **make_sql_store.group)
    with Mediator([_fan_flow(gate=release)], runners=4, store=store) as mediator:
        before = store.group_stats()
        handles = mediator.schedule_many("fan", [{"i": i} for i in range(40)])
        if store._group_all:  # SQLite: the admission went through the writer, as one slice
            # No runner can hand over a slice before the release: the count is the batch's.
            assert store.group_stats()[1] == before[1] + 1
        release.set()
        jobs = [h.result(timeout=30) for h in handles]
    check = make_sql_store()
    _check_cases(make_sql_store, check, jobs)
    assert [job.data["i"] for job in jobs] == list(range(40))


def test_the_engine_resumes_the_jobs_of_a_group_that_was_not_stored(
    make_sql_store, group_url, caplog
):
    caplog.set_level(logging.WARNING, logger="actors")
    store = open_store(group_url, **make_sql_store.group)
    # Where a group is stored: by the writer thread, or handed to the writer process.
    if getattr(store, "writer", "thread") == "process":
        target, name = store, "_send_group"
    else:
        target, name = store._writer, "_store_group"
    real = getattr(target, name)
    admitted = threading.Event()  # every case is created: from then on, runners' slices only
    lost = []

    def fail_once(slices):
        if admitted.is_set() and not lost and any(part.rows for part in slices):
            lost.append([job.id for part in slices for _, _, job in part.rows])
            raise StoreError(f"{store.url}: cannot store a group: connection reset")
        return real(slices)

    setattr(target, name, fail_once)
    runs = []
    with Mediator([_fan_flow(runs, gate=admitted)], runners=4, store=store) as mediator:
        handles = [mediator.schedule("fan", {"i": i}) for i in range(12)]
        admitted.set()
        jobs = [h.result(timeout=30) for h in handles]
    [rows] = lost
    roots = {h.job_id for h in handles}
    failed_roots = set(rows) & roots
    assert failed_roots  # the first group held the first slice of at least one case
    assert len(runs) == len(jobs) + len(failed_roots)  # those ran "start" again
    assert "was not stored (" in caplog.text
    assert "resumes from its last saved step 'start'" in caplog.text
    check = make_sql_store()
    _check_cases(make_sql_store, check, jobs)  # no trace of the lost slices
    assert all(check.get(job_id) is None for job_id in set(rows) - roots)  # their branches


class Opaque:
    """Not JSON and not a registered dataclass: the codec refuses it."""


def test_unstorable_data_faults_its_job_and_the_engine_goes_on(make_sql_store, group_url):
    def bad(data):
        data["handle"] = Opaque()

    def bad_branch(data):
        if data["i"] == 1:
            data["handle"] = Opaque()

    flows = [
        Workflow(
            "bad",
            [Sequential("ok", lambda d: d.update(ok=True), next="bad"), Sequential("bad", bad)],
            "ok",
        ),
        Workflow(
            "branchy",
            [
                ParallelSplit("fan", branches=["x", "y"]),
                Sequential("x", bad_branch, next="join"),
                Sequential("y", lambda d: d.update(y=True), next="join"),
                Synchronize("join"),
            ],
            "fan",
        ),
        _fan_flow(),
    ]
    store = open_store(group_url, **make_sql_store.group)
    with Mediator(flows, runners=2, store=store) as mediator:
        goods = [mediator.schedule("fan", {"i": i}) for i in range(10)]
        faulted = mediator.schedule("bad", {}).result(timeout=30)
        branchy = [mediator.schedule("branchy", {"i": i}).result(timeout=30) for i in range(2)]
        after = mediator.schedule("fan", {"i": 10}).result(timeout=30)
        jobs = [h.result(timeout=30) for h in goods]
    assert faulted.state is JobState.FAULTED
    assert "step 'bad': data cannot be stored" in faulted.error
    assert "Opaque" in faulted.error
    assert faulted.data == {"ok": True}  # as last saved
    check = make_sql_store()
    assert [(h[0], h[2]) for h in check.history(faulted.id)] == [
        ("ok", "ready"),
        ("bad", "running"),  # the save before the one that could not be encoded
        ("bad", "faulted"),
    ]
    assert branchy[0].state is JobState.DONE
    assert branchy[0].data == {"i": 0, "y": True}
    assert branchy[1].state is JobState.FAULTED
    assert "data cannot be stored" in branchy[1].error
    assert after.state is JobState.DONE and after.data == _expected(10)
    assert all(job.state is JobState.DONE for job in jobs)
    assert [job.data for job in jobs] == [_expected(i) for i in range(10)]


def test_an_unreadable_join_faults_the_branch_as_in_the_other_modes(make_sql_store, group_url):
    # A parent row whose arrivals cannot be decoded: with commit="step" or "slice" the
    # branch's record_arrival raises CodecError and the runner faults the branch, so the
    # case ends FAULTED. A group store leaves the branch's slice out with that CodecError;
    # the engine must fault the branch too, not retry it forever as a transient failure.
    runs = []
    settled = threading.Event()  # the case ended, or its branches are looping

    def corrupt(data, ctx):
        runs.append(ctx.job_id)
        if len(runs) == 1:
            make_sql_store.raw("UPDATE jobs SET arrivals = ? WHERE id = ?", ("{oops", data["pid"]))
        if len(runs) > 20:
            settled.set()

    flow = Workflow(
        "fragile",
        [
            Sequential("start", lambda d, ctx: d.update(pid=ctx.job_id), next="fan"),
            ParallelSplit("fan", branches=["x", "y"]),
            Sequential("x", corrupt, next="join"),
            Sequential("y", corrupt, next="join"),
            Synchronize("join"),
        ],
        "start",
    )
    outcome = []

    def wait_for(handle):
        with contextlib.suppress(Exception):  # EngineStoppedError once the test stops it
            outcome.append(handle.result(timeout=2 * TIMEOUT))
        settled.set()

    mediator = Mediator([flow], runners=2, store=open_store(group_url, **make_sql_store.group))
    waiter = None
    try:
        waiter = threading.Thread(target=wait_for, args=(mediator.schedule("fragile", {}),))
        waiter.start()
        assert settled.wait(2 * TIMEOUT)
        assert len(runs) <= 20, (
            f"the branches ran {len(runs)} times: the CodecError the group gave their slices "
            "came back as SliceUnsaved, and the Scheduler resumed them again and again"
        )
    finally:
        mediator.shutdown(drain=False, timeout=TIMEOUT)
        if waiter is not None:
            waiter.join(TIMEOUT)
    [job] = outcome
    assert job.state is JobState.FAULTED
    assert "cannot decode arrivals" in job.error
    assert len(runs) == 2  # each branch ran once


def test_heartbeats_and_group_commits_lock_rows_in_one_order(make_sql_store):
    # A heartbeat renews every root a worker holds while its writer's groups lock the
    # same rows. Both lock in insertion order, so PostgreSQL never has to break a
    # deadlock between them (it would abort one of the two with an error).
    store = make_sql_store(commit="group")
    store.owner = "w"
    roots = [rec(f"r{i:03}") for i in range(60)]
    for root in roots:
        store.create(root)  # leased to "w": created by its store
    # New row versions, last root first: a scan of the table now meets the roots in the
    # reverse of their insertion order, the order a group locks them in.
    for root in reversed(roots):
        make_sql_store.raw("UPDATE jobs SET lease_expires = ? WHERE id = ?", (1e12, root.id))
    failures: list[BaseException] = []
    done = threading.Event()

    def beat():
        while not done.is_set():
            try:
                assert store.heartbeat("w", time.time(), 30.0) == len(roots)
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)
                return

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        calls = Callbacks()
        for round_ in range(40):
            with plugged(store):
                for i, root in enumerate(reversed(roots)):  # saved in the other order
                    submit(store, calls((round_, i)), saving(root, attempt=round_ + 1))
        results = calls.wait(40 * len(roots))
    finally:
        done.set()
        beater.join(TIMEOUT)
    assert failures == []
    assert all(error is None for _, error, _, _ in results)
