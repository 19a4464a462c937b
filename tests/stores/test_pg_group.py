"""PostgreSQL's group statements: a group's parent updates go as one statement per kind."""

import pytest

from actors.stores._codec import DEFAULT_CODEC
from actors.stores._joins import JoinCount

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
