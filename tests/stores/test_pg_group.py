"""PostgreSQL's group statements: a group's parent updates go as one statement per kind."""

import pytest
from records import record

from actors.stores._codec import DEFAULT_CODEC
from actors.stores._joins import JoinCount
from actors.stores._rows import row_params

pg_group = pytest.importorskip("actors.stores._pg_group")


@pytest.mark.parametrize("fired", [True, False])
def test_each_parent_update_a_join_makes_has_its_one_statement_form(fired):
    # gen, split_total, joined, arrivals, state, join_step of a parent waiting on 2 branches
    join = JoinCount("p", (1, 2, False, None, "waiting", None), 0)
    join.arrive(DEFAULT_CODEC, 1, 0, "join", None, new=True)
    if fired:
        join.arrive(DEFAULT_CODEC, 1, 1, "join", None, new=True)
    update = join.update(DEFAULT_CODEC)
    assert update is not None
    sql, params = update
    many = pg_group.as_one_statement(sql, [params, (*params[:-1], "q")])
    assert many is not None
    assert many[1][1] == ["p", "q"]  # the ids, as an array: found through the primary key
    assert pg_group.as_one_statement(sql, [params]) is None  # one row: as it is


def test_a_group_update_sends_what_it_sets_and_not_what_never_changes():
    # The rows the group read are updated from JSON that leaves out the job's case and
    # parent (never changed after creation), created_at and a new row's lease.
    job = record("kid", case_id="case-of-kid", parent_id="parent-of-kid", branch_index=2)
    params = row_params(job, 12.5, DEFAULT_CODEC, ("worker-x", 99.0))
    sent = []
    pg_group.put_group(lambda sql, p: sent.append((sql, p)), [(params, None, job)], {"kid"})
    [(sql, (text, ids))] = sent
    assert sql.startswith("UPDATE jobs AS j SET ")
    assert ids == ["kid"]
    assert "case-of-kid" not in text
    assert "parent-of-kid" not in text
    assert "worker-x" not in text
    assert "99.0" not in text
    assert "case_id" not in sql.split(" FROM ")[0]
