"""commit="slice": the saves a runner makes while it runs one job commit together."""

from functools import partial

import pytest
from records import record

from actors import JobState

job = partial(record, data={})


@pytest.fixture
def sliced(make_sql_store):
    return make_sql_store(commit="slice")


def test_a_slice_writes_each_jobs_last_save_and_every_history_row(sliced, make_sql_store):
    a, b = job("a"), job("b")
    sliced.create(a)
    sliced.create(b)
    other = make_sql_store()  # another connection: sees only what is committed
    sliced.begin_slice()
    for n in range(5):
        a.step, a.data, a.state = f"s{n}", {"n": n}, JobState.RUNNING
        sliced.save(a)
    b.step, b.state = "end", JobState.DONE
    sliced.save(b)
    assert other.load("a").step == "a"  # nothing committed before the slice ends
    sliced.end_slice()
    got = other.load("a")
    assert (got.step, got.data, got.state) == ("s4", {"n": 4}, JobState.RUNNING)
    assert other.load("b").state is JobState.DONE
    assert other.counts()[JobState.DONE] == 1
    assert [h[0] for h in other.history("a")] == ["a", "s0", "s1", "s2", "s3", "s4"]


def test_many_jobs_in_one_slice_keep_indexed_columns_right(sliced):
    jobs = [job(f"j{i}") for i in range(700)]
    sliced.begin_slice()
    for j in jobs:
        sliced.create(j)
    sliced.end_slice()
    sliced.begin_slice()
    for i, j in enumerate(jobs):
        j.state = JobState.WAITING if i % 2 else JobState.DONE
        j.due = 5.0 if i % 2 else None
        sliced.save(j)
    sliced.end_slice()
    counts = sliced.counts()
    assert (counts[JobState.WAITING], counts[JobState.DONE]) == (350, 350)
    assert len(sliced.due_timers(10.0)) == 350
    assert sliced.due_timers(1.0) == []
    assert len(sliced.unfinished()) == 350


def test_a_job_saved_before_it_was_created_is_stored_in_a_slice(sliced):
    sliced.create(job("known"))
    sliced.begin_slice()
    sliced.save(job("known", state=JobState.RUNNING))
    sliced.save(job("never-created", state=JobState.RUNNING))
    sliced.end_slice()
    assert sliced.load("never-created").state is JobState.RUNNING
    assert sliced.load("known").state is JobState.RUNNING


def test_a_split_inside_a_slice_creates_its_branches(sliced):
    parent = job("p")
    sliced.create(parent)
    sliced.begin_slice()
    parent.state, parent.split_total, parent.gen = JobState.WAITING, 3, 1
    kids = [job(f"p.{i}", parent_id="p", branch_index=i, parent_gen=1) for i in range(3)]
    sliced.save_split(parent, kids)
    kids[0].step, kids[0].state = "b", JobState.RUNNING  # a branch saved in the same slice
    sliced.save(kids[0])
    sliced.end_slice()
    assert [sliced.load(k.id).step for k in kids] == ["b", "a", "a"]
    assert sliced.load("p").state is JobState.WAITING
    assert sliced.record_arrival("p", 1, 0, {"x": 1}) == (1, 3)
