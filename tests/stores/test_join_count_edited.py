"""A split's count in ``join_counts`` edited by hand into no count: counted from its arrivals.

``int()`` of such a count (text on SQLite; a negative on either store) failed every save
that recorded an arrival at that parent, the other cases' saves of its group with it,
and the branch ran its step again in a tight loop; its case never ended.
"""

import psycopg
import pytest
from group_support import ON_GROUP_STORES, Callbacks, arriving, plugged, saving, split, submit
from records import saved_split

from actors import JobState

# A negative count is the edit PostgreSQL's integer column takes.
EDITS = [pytest.param("'x'", id="text"), pytest.param("-3", id="negative")]


def _refused(make_sql_store, value):
    """PostgreSQL's integer column takes no text: the edit itself fails, nothing to count."""
    if value != "'x'" or make_sql_store.kind != "postgres":
        return False
    make_sql_store()  # the schema
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        _edit(make_sql_store, "p", value)
    return True


def _edit(make_sql_store, parent_id, value):
    sql = f"UPDATE join_counts SET arrived = {value} WHERE parent_id = ?"
    make_sql_store.raw(sql, (parent_id,))


@pytest.mark.parametrize("value", EDITS)
def test_an_arrival_counts_on_from_the_arrivals_recorded(make_sql_store, value):
    if _refused(make_sql_store, value):
        return
    store = make_sql_store()
    parent, _ = saved_split(store, 3)
    assert store.record_arrival(parent.id, 1, 0, {"b": 0}, join_step="join") == (1, 3)
    _edit(make_sql_store, parent.id, value)
    assert store.record_arrival(parent.id, 1, 1, {"b": 1}, join_step="join") == (2, 3)
    assert store.record_arrival(parent.id, 1, 2, {"b": 2}, join_step="join") == (3, 3)
    loaded = store.load(parent.id)
    assert (loaded.state, loaded.joined) == (JobState.READY, True)
    assert loaded.arrivals == {i: {"b": i} for i in range(3)}


@ON_GROUP_STORES
@pytest.mark.parametrize("value", EDITS)
def test_a_group_counts_on_from_the_arrivals_recorded(group, make_sql_store, value):
    if _refused(make_sql_store, value):
        return
    kids = split(group, "p", 2)
    other = split(group, "q", 2)
    calls = Callbacks()
    with plugged(group):
        submit(group, calls("p0"), arriving("p", 0, {"b": 0}))
    calls.wait(1)
    _edit(make_sql_store, "p", value)
    with plugged(group):  # the last arrival, and another case's save, in one group
        submit(
            group,
            calls("p1"),
            arriving("p", 1, {"b": 1}),
            saving(kids[1], step="join", state=JobState.DONE),
        )
        submit(group, calls("q"), saving(other[0], step="b0", state=JobState.DONE))
    assert all(error is None for _, error, _, _ in calls.wait(3))
    loaded = group.load("p")
    assert (loaded.state, loaded.joined) == (JobState.READY, True)
    assert loaded.arrivals == {0: {"b": 0}, 1: {"b": 1}}
    assert group.load(other[0].id).state is JobState.DONE
