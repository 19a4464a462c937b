"""The Store contract for bad rows: what a durable store cannot read comes back FAULTED.

A row with a broken column (data, state, event, arrivals) comes back faulted, naming the
column, and is saved so; a dataclass tag naming any other code is never imported.
"""

from functools import partial

import pytest
from records import record, saved_split

from actors import JobState

rec = partial(record, workflow="order", step="reserve")
split = partial(saved_split, build=rec)


BAD_COLUMNS = [
    ("data", "{not json", "not valid JSON"),
    ("data", '{"__dataclass__": "os:system", "fields": {"command": "echo pwned"}}', "os:system"),
    ("data", '{"__dataclass__": "tests.nowhere:Evil", "fields": {}}', "not registered"),
    ("state", "paused", "unknown state 'paused'"),
    ("event", "[1, 2", "event of job"),
    ("event", '{"kind": "reply"}', "not a [kind, name, payload] list"),
    ("arrivals", '{"__map__": [["zero", {}]]}', "arrivals of job"),
    ("attempt", -1, "column attempt holds -1 (expected an integer from 1 to 2147483646)"),
    # One more would not fit PostgreSQL's integer: every save failed, in a tight loop.
    ("attempt", 2**31 - 1, "column attempt holds 2147483647 (expected an integer from 1 to"),
    ("gen", 2**31 - 1, "column gen holds 2147483647 (expected an integer from 0 to 2147483646)"),
    # Counted up from 0: below it, its split's branches (or its parent's) matched no split.
    ("gen", -4, "column gen holds -4 (expected an integer from 0 to 2147483646)"),
    ("parent_gen", -1, "column parent_gen holds -1 (expected an integer >= 0)"),
    ("version", 0, "column version holds 0 (expected an integer >= 1)"),
    ("branch_index", -3, "column branch_index holds -3 (expected an integer >= 0 or NULL)"),
    ("due", float("inf"), "column due holds inf (expected a finite number or NULL)"),
]


@pytest.mark.parametrize(("column", "value", "named"), BAD_COLUMNS)
@pytest.mark.parametrize("read", ["load", "get", "unfinished"])
def test_a_bad_row_comes_back_faulted_and_is_saved_so(make_sql_store, column, value, named, read):
    store = make_sql_store()
    job = rec(data={"keep": True})
    store.create(job)
    make_sql_store.raw(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, job.id))
    if read == "unfinished":
        [got] = [j for j in store.unfinished() if j.id == job.id]
    else:
        got = getattr(store, read)(job.id)
    assert got.state is JobState.FAULTED
    assert "stored job row is unreadable" in got.error
    assert named in got.error
    if read == "get":
        # A look changes nothing: the row stays as it was until a worker takes the job.
        [(state,)] = make_sql_store.raw("SELECT state FROM jobs WHERE id = ?", (job.id,))
        assert state == (value if column == "state" else "ready")
        assert store.load(job.id).state is JobState.FAULTED
    # Saved FAULTED, the unreadable column left as it was for inspection; the store goes on.
    [(state, stored)] = make_sql_store.raw(
        f"SELECT state, {column} FROM jobs WHERE id = ?", (job.id,)
    )
    assert state == "faulted"
    if column != "state":
        assert stored == value
    assert store.get(job.id).state is JobState.FAULTED
    assert job.id not in [j.id for j in store.unfinished()]
    assert store.counts()[JobState.FAULTED] == 1
    other = rec()
    store.create(other)
    assert store.load(other.id).data == {"n": 1}


def test_a_bad_row_is_never_executed(make_sql_store, tmp_path):
    store = make_sql_store()
    job = rec()
    store.create(job)
    marker = tmp_path / "pwned"
    crafted = (
        '{"__dataclass__": "os:system", "fields": {"command": "touch %s"}}' % marker  # noqa: UP031
    )
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", (crafted, job.id))
    assert store.load(job.id).state is JobState.FAULTED
    assert not marker.exists()


def test_claim_returns_a_bad_row_faulted(sql_store, make_sql_store):
    job = rec()
    sql_store.create(job)
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", ("{broken", job.id))
    [got] = sql_store.claim("w1", now=1.0, lease_seconds=5.0, limit=5)
    assert got.state is JobState.FAULTED
    assert sql_store.get(job.id).state is JobState.FAULTED
    assert sql_store.claim("w2", now=100.0, lease_seconds=5.0, limit=5) == []


def test_a_row_whose_state_is_no_state_is_counted_and_listed_as_faulted(make_sql_store):
    """As it reads, FAULTED, in the counts and under ``--state faulted`` alike.

    An operator's read saves nothing: the row keeps its bad state.
    """
    from actors.stores._admin_types import JobQuery

    store = make_sql_store()
    good, bad = rec(), rec()
    store.create(good)
    store.create(bad)
    make_sql_store.raw("UPDATE jobs SET state = ? WHERE id = ?", ("zzz", bad.id))
    counts = store.counts()
    assert sum(counts.values()) == 2
    assert counts[JobState.FAULTED] == 1
    listed = store.query_jobs(JobQuery(states=(JobState.FAULTED,)), limit=10)
    assert [s.record.id for s in listed] == [bad.id]
    assert listed[0].record.state is JobState.FAULTED
    ready = store.query_jobs(JobQuery(states=(JobState.READY,)), limit=10)
    assert [s.record.id for s in ready] == [good.id]
    assert make_sql_store.raw("SELECT state FROM jobs WHERE id = ?", (bad.id,)) == [("zzz",)]


@pytest.mark.parametrize("read", ["load", "unfinished"])
def test_a_branch_whose_index_was_emptied_comes_back_faulted_naming_it(make_sql_store, read):
    # Each runner it was given died of the missing index (an AssertionError with no
    # message), and the third death faulted it saying only that.
    store = make_sql_store()
    parent, (first, second) = split(store, 2)
    make_sql_store.raw("UPDATE jobs SET branch_index = NULL WHERE id = ?", (second.id,))
    if read == "unfinished":
        [got] = [j for j in store.unfinished() if j.id == second.id]
    else:
        got = store.load(second.id)
    assert got.state is JobState.FAULTED
    assert (
        f"column branch_index is NULL, but the row is a branch of job {parent.id!r} "
        "(expected an integer >= 0)"
    ) in (got.error or "")
    assert store.load(first.id).state is JobState.READY
    root = rec()
    store.create(root)  # a root has no index, and none is asked of it
    assert store.load(root.id).state is JobState.READY


@pytest.mark.parametrize("together", [True, False], ids=["one claim", "a claim each"])
def test_a_branch_whose_parent_is_another_case_s_job_is_claimed_faulted(make_sql_store, together):
    # It ran, and its arrival was counted at the other case's join, whose merge took its
    # data for that of one of its own branches: a row edited in one case changed another.
    store = make_sql_store()
    mine, (stray, sibling) = split(store, 2)
    other, others = split(store, 2)
    make_sql_store.raw("UPDATE jobs SET parent_id = ? WHERE id = ?", (other.id, stray.id))
    if together:
        got = store.claim("w1", now=1.0, lease_seconds=5.0, limit=5)
    else:
        got = [
            *store.claim("w1", now=1.0, lease_seconds=5.0, limit=1, case_id=mine.case_id),
            *store.claim("w1", now=1.0, lease_seconds=5.0, limit=1, case_id=other.case_id),
        ]
    by_id = {job.id: job for job in got}
    assert by_id[stray.id].state is JobState.FAULTED
    assert (
        f"column parent_id names job {other.id!r} of case {other.case_id!r}, "
        f"not of its own case {mine.case_id!r}"
    ) in (by_id[stray.id].error or "")
    assert store.load(stray.id).state is JobState.FAULTED  # saved so
    for job in (sibling, *others):
        assert by_id[job.id].state is JobState.READY
    # The other case learns nothing of it: no branch error, no arrival.
    assert make_sql_store.raw("SELECT branch_error FROM jobs WHERE id = ?", (other.id,)) == [
        (None,)
    ]
    assert store.arrived_branches([store.load(other.id)]) == {other.id: frozenset()}
