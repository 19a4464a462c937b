"""Group commit: one writer thread commits the writes of many threads together.

The committer is driven with a fake transaction function that blocks on a gate, so the
tests decide exactly which writes are queued when a commit starts: no sleeps.
"""

import logging
import threading

import pytest

from actors import JobNotFoundError, JobState, StoreError
from actors._job import JobRecord
from actors.stores._group import GroupCommitter

WAIT = 10.0


class FakeDatabase:
    """Runs each group as a 'transaction': all writes, or none if one raises."""

    def __init__(self):
        self.committed = []  # one list of written values per committed transaction
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def transaction(self, fns):
        self.entered.set()
        assert self.gate.wait(WAIT)
        written = []
        results = [fn(written) for fn in fns]  # a raising fn rolls back the whole group
        self.committed.append(written)
        return results


def write(value):
    def fn(written):
        written.append(value)
        return value * 10

    return fn


def failing(written):
    raise ValueError("this write is bad")


def wrap(what, exc):
    return exc


@pytest.fixture
def db():
    return FakeDatabase()


@pytest.fixture
def committer(db):
    c = GroupCommitter(db.transaction, wrap, "test-writer")
    yield c
    db.gate.set()
    c.close()


def hold_first_commit(db, committer):
    """Start a commit that waits on the gate, so later writes queue behind it."""
    db.gate.clear()
    db.entered.clear()
    first = committer.submit_nowait(write(0), "write 0")
    assert db.entered.wait(WAIT)
    return first


def test_writes_queued_during_a_commit_share_the_next_one(db, committer):
    first = hold_first_commit(db, committer)
    queued = [committer.submit_nowait(write(i), f"write {i}") for i in range(1, 6)]
    db.gate.set()
    assert first.wait() == 0
    assert [w.wait() for w in queued] == [10, 20, 30, 40, 50]
    assert db.committed == [[0], [1, 2, 3, 4, 5]]  # two transactions for six writes


def test_submit_from_many_threads_returns_each_callers_result(db, committer):
    hold_first_commit(db, committer)
    results = {}
    started = threading.Barrier(9)

    def caller(i):
        started.wait(WAIT)
        results[i] = committer.submit(write(i), f"write {i}")

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    started.wait(WAIT)
    db.gate.set()
    for t in threads:
        t.join(WAIT)
    assert results == {i: i * 10 for i in range(1, 9)}
    assert sorted(v for group in db.committed for v in group) == list(range(9))


def test_a_failing_write_fails_alone_and_the_rest_of_its_group_commits(db, committer):
    hold_first_commit(db, committer)
    before = committer.submit_nowait(write(1), "write 1")
    bad = committer.submit_nowait(failing, "write the bad one")
    after = committer.submit_nowait(write(2), "write 2")
    db.gate.set()
    assert before.wait() == 10
    with pytest.raises(ValueError, match="this write is bad"):
        bad.wait()
    assert after.wait() == 20
    # The group failed as a whole, then each write ran in a transaction of its own.
    assert db.committed == [[0], [1], [2]]


def test_writes_commit_in_submission_order(db, committer):
    hold_first_commit(db, committer)
    writes = [committer.submit_nowait(write(i), f"write {i}") for i in range(1, 50)]
    db.gate.set()
    for w in writes:
        w.wait()
    flat = [v for group in db.committed for v in group]
    assert flat == list(range(50))


def test_an_orphan_write_that_fails_is_logged(db, committer, caplog):
    with caplog.at_level(logging.ERROR, logger="actors.stores"):
        orphan = committer.submit_nowait(failing, "save job j-1", orphan=True)
        with pytest.raises(ValueError):
            orphan.wait()
    assert "could not save job j-1: this write is bad" in caplog.text


def test_close_commits_what_is_queued_then_refuses_writes(db):
    c = GroupCommitter(db.transaction, wrap, "test-writer")
    first = hold_first_commit(db, c)
    queued = c.submit_nowait(write(1), "write 1")
    closer = threading.Thread(target=c.close)
    closer.start()
    db.gate.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert (first.wait(), queued.wait()) == (0, 10)
    with pytest.raises(StoreError, match="cannot write 2: the store is closed"):
        c.submit(write(2), "write 2")


# -- the SQL stores on top of it ----------------------------------------------------------------


def job(job_id, **fields):
    return JobRecord(
        id=job_id, case_id=job_id, workflow="w", version=1, step="a", data={}, **fields
    )


def test_a_slice_queues_its_saves_and_commits_them_by_its_end(make_sql_store):
    sql_store = make_sql_store(commit="slice")
    a, b = job("a"), job("b")
    sql_store.create(a)
    sql_store.create(b)
    sql_store.begin_slice()
    for n in range(5):
        a.step, a.data, a.state = f"s{n}", {"n": n}, JobState.RUNNING
        sql_store.save(a)
    b.state, b.step = JobState.DONE, "end"
    sql_store.save(b)
    sql_store.end_slice()
    got = sql_store.load("a")
    assert (got.step, got.data, got.state) == ("s4", {"n": 4}, JobState.RUNNING)
    assert sql_store.load("b").state is JobState.DONE
    assert sql_store.counts()[JobState.DONE] == 1
    # Every save left its step-history row, though the row itself was written once.
    assert [h[0] for h in sql_store.history("a")] == ["a", "s0", "s1", "s2", "s3", "s4"]


def test_many_saves_in_one_group_keep_indexed_columns_right(make_sql_store):
    sql_store = make_sql_store(commit="slice")
    jobs = [job(f"j{i}") for i in range(700)]  # more rows than one statement takes
    for j in jobs:
        sql_store.create(j)
    sql_store.begin_slice()
    for i, j in enumerate(jobs):
        j.state = JobState.WAITING if i % 2 else JobState.DONE
        j.due = 5.0 if i % 2 else None
        sql_store.save(j)
    sql_store.end_slice()
    counts = sql_store.counts()
    assert (counts[JobState.WAITING], counts[JobState.DONE]) == (350, 350)
    assert len(sql_store.due_timers(10.0)) == 350
    assert sql_store.due_timers(1.0) == []


def test_a_save_before_create_inside_a_group_still_stores_the_job(make_sql_store):
    sql_store = make_sql_store(commit="slice")
    sql_store.begin_slice()
    sql_store.save(job("never-created", state=JobState.RUNNING))
    sql_store.save(job("also-new", state=JobState.RUNNING))
    sql_store.end_slice()
    assert sql_store.load("never-created").state is JobState.RUNNING
    assert sql_store.load("also-new").state is JobState.RUNNING


def test_a_queued_arrival_commits_with_the_slice_and_counts_once(make_sql_store):
    sql_store = make_sql_store(commit="slice")
    parent = job("p", state=JobState.WAITING, split_step="split", split_total=2, gen=1)
    sql_store.create(parent)
    for i in (0, 1, 1):  # the second arrival of branch 1 is a repeat
        sql_store.begin_slice()
        sql_store.queue_arrival("p", 1, i, {"b": i}, join_step="join")
        sql_store.end_slice()
    got = sql_store.load("p")
    assert got.state is JobState.READY and got.joined and got.step == "join"
    assert got.arrivals == {0: {"b": 0}, 1: {"b": 1}}


def test_a_queued_arrival_at_an_unknown_parent_fails_the_slice(make_sql_store):
    sql_store = make_sql_store(commit="slice")
    sql_store.begin_slice()
    sql_store.queue_arrival("nobody", 1, 0, {}, join_step="join")
    with pytest.raises(JobNotFoundError, match="nobody"):
        sql_store.end_slice()


def test_save_soon_is_ordered_before_later_saves(sql_store):
    j = job("soon")
    sql_store.create(j)
    j.step, j.state = "joined", JobState.READY
    sql_store.save_soon(j)
    j.step, j.state = "after", JobState.RUNNING
    sql_store.save(j)  # waits for its own commit, so for the earlier one too
    assert [h[0] for h in sql_store.history("soon")] == ["a", "joined", "after"]
    assert sql_store.load("soon").step == "after"
