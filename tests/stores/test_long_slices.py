"""A slice that runs many steps (a loop) stores its saves as it goes, and holds one data copy.

Without this, a job looping inside one slice kept every save's encoded data in memory
(a thousand steps of 1 MB data: about 1 GB) and had none of them stored until it left
its runner.
"""

from functools import partial

import pytest
from records import record

from actors import JobState
from actors.stores._statements import DATA_AT

job = partial(record, data={})


def _loop(store, other, saves):
    """Save one job ``saves`` times in one slice; what ``other`` sees before its end."""
    a = job("a")
    store.create(a)
    store.slice_rows = 10
    store.begin_slice()
    for n in range(saves):
        a.step, a.data, a.state = f"s{n}", {"n": n, "pad": "x" * 100}, JobState.RUNNING
        store.save(a)
        pending = store._slice.pending
        assert len(pending) < store.slice_rows
        # Only the last of the slice's saves of the job keeps its encoded data.
        assert sum(params[DATA_AT] is not None for params, _, _ in pending) <= 1
    seen = other.load("a")
    store.end_slice()
    return seen


@pytest.mark.parametrize("commit", ["slice", "group"])
def test_a_long_slice_is_stored_as_it_runs(make_sql_store, commit):
    store = make_sql_store(commit=commit)
    other = make_sql_store(commit="step")  # another connection: sees what is committed
    seen = _loop(store, other, 25)
    assert (seen.step, seen.data["n"]) == ("s19", 19)  # two parts stored before the end
    got = other.load("a")
    assert (got.step, got.data["n"], got.state) == ("s24", 24, JobState.RUNNING)
    assert [h[0] for h in other.history("a")] == ["a", *(f"s{n}" for n in range(25))]


def test_a_long_slice_in_a_writer_process_is_stored_as_it_runs(tmp_path):
    from actors.stores import SqliteStore

    store = SqliteStore(tmp_path / "jobs.db", commit="group", writer="process")
    other = SqliteStore(tmp_path / "jobs.db", commit="step")
    try:
        seen = _loop(store, other, 12)
        assert seen.step == "s9"
        assert other.load("a").step == "s11"
        assert len(other.history("a")) == 13
    finally:
        store.close()
        other.close()


def test_a_superseded_save_in_a_slice_writes_its_history_row_only(make_sql_store):
    store = make_sql_store(commit="slice")
    a, b = job("a"), job("b")
    store.create(a)
    store.create(b)
    store.begin_slice()
    a.step, a.data = "s1", {"v": 1}
    store.save(a)
    b.step = "t1"
    store.save(b)  # another job between two saves of ``a``: both of a's rows keep data
    a.step, a.data = "s2", {"v": 2}
    store.save(a)
    assert [params[DATA_AT] is not None for params, _, _ in store._slice.pending] == [True] * 3
    a.step, a.data = "s3", {"v": 3}
    store.save(a)
    assert [params[DATA_AT] is not None for params, _, _ in store._slice.pending] == [
        True,
        True,
        False,
        True,
    ]
    store.end_slice()
    assert (store.load("a").step, store.load("a").data) == ("s3", {"v": 3})
    assert [h[0] for h in store.history("a")] == ["a", "s1", "s2", "s3"]
    assert store.load("b").step == "t1"
