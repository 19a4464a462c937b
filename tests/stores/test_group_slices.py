"""commit="group", one slice at a time: what is stored when, and who is called back how.

Nothing of a slice is stored before ``end_slice``; callbacks come after the commit and in
order; slices of several threads share transactions.
"""

import threading

import pytest
from bounds import TIMEOUT
from group_support import ON_GROUP_STORES, Callbacks, counters, plugged, rec, saving, split, submit

from actors import (
    JobState,
)
from actors.stores import open_store

pytestmark = ON_GROUP_STORES


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


def test_awkward_text_and_floats_come_back_exactly_from_a_group(group):
    # PostgreSQL receives a group's rows as one JSON document (or, for a value JSON
    # cannot carry, as typed arrays): every value must come back as saved.
    text = 'quote " backslash \\ newline \n tab \t \x01 é 漢 🦀 \u2028'
    jobs = [rec(f"odd{i}") for i in range(3)]
    group.begin_slice()
    for job in jobs:
        group.create(job)
    group.end_slice()
    dues = [1796427000.1234567, 1e-7 + 1 / 3, float("inf")]  # inf: not JSON
    for slice_ in (jobs[:2], jobs[2:]):  # one group each (end_slice waits for its commit)
        group.begin_slice()
        for job in slice_:
            due = dues[jobs.index(job)]
            job.data, job.error, job.due = {text: [text, due]}, text, due
            job.state = JobState.WAITING
            group.save(job)
        group.end_slice()
    for job, due in zip(jobs, dues[:2], strict=False):
        got = group.load(job.id)
        assert (got.data, got.error, got.due) == ({text: [text, due]}, text, due)
        assert group.history(job.id)[-1][0] == job.step
    # The infinite due time went too (as typed arrays on PostgreSQL), and reads as what
    # no engine could wait for: the row is unreadable, its data kept.
    got = group.load(jobs[2].id)
    assert got.state is JobState.FAULTED and "column due holds inf" in (got.error or "")
    assert got.data == {text: [text, dues[2]]}
