"""A listing's page costs a page, or the jobs in its states, not the store's history.

``Admin.jobs`` reads newest first by (created_at, id) and pages by cursor. Everything
and DONE walk an index of migration 7 in that order and stop after a page; the other
states (few: under way, or faulted) read theirs through the state index and sort them.
On SQLite the work of one page is counted in SQLite's own steps
(``set_progress_handler``) at two store sizes, and the plans are checked; on PostgreSQL
the plans are, after ``ANALYZE``.
"""

import base64
import itertools
import json
import sqlite3
from typing import Any

import pytest

from actors import JobState
from actors._job import JobRecord
from actors.admin import Admin
from actors.stores import open_store
from actors.stores._admin_types import JobQuery
from actors.stores._postgres import PostgresStore

# (name, keyword arguments of Admin.jobs): the default listing and each filter the CLI has.
LISTINGS = [
    ("all", {}),
    ("faulted", {"state": "faulted"}),
    ("two-states", {"state": ["waiting", "faulted"]}),
    ("done", {"state": "done"}),
    ("done-cases", {"state": "done", "cases_only": True}),
    ("done-and-faulted", {"state": ["done", "faulted"]}),
    ("workflow", {"workflow": "v"}),
    ("cases", {"cases_only": True}),
    ("faulted-cases", {"state": "faulted", "cases_only": True}),
    ("faulted-workflow", {"state": "faulted", "workflow": "w"}),
    ("since", {"since": 3600.0}),
    ("cases-since", {"cases_only": True, "since": 3600.0}),
]


def fill(store: Any, cases: int, start: int = 0, *, done_only: bool = False) -> None:
    """``cases`` cases of a root and 2 branches; 1 in 50 FAULTED, 1 in 3 of workflow v.

    1 in 100 has a WAITING branch; with ``done_only``, every job is DONE. Stored 50
    cases at a time: each batch's jobs share their creation time.
    """
    rows: list[JobRecord] = []
    for n in range(start, start + cases):
        case = f"c{n:06}"
        state = JobState.FAULTED if n % 50 == 1 and not done_only else JobState.DONE
        wf = "v" if n % 3 == 0 else "w"
        rows.append(JobRecord(case, case, wf, 1, "a", {}, state=state))
        rows.extend(
            JobRecord.branch(f"{case}.{b}", case, wf, 1, "b", {}, case, b, 0) for b in range(2)
        )
        if n % 100 == 7 and not done_only:
            rows[-1].state = JobState.WAITING
        if n % 50 == 49:
            store.create_many(rows)
            rows = []
    if rows:
        store.create_many(rows)


def walked(kwargs: dict[str, Any]) -> bool:
    """Whether a listing reads only DONE or every state (one walk in the listing's order)."""
    states = kwargs.get("state", [])
    return not states or "done" in states


def only_walked(kwargs: dict[str, Any]) -> bool:
    """Whether a listing is one walk in its order, with no part by another state."""
    states = kwargs.get("state", [])
    return not states or states in ("done", ["done"])


def steps(store: Any, run: Any) -> int:
    """SQLite's virtual machine steps (in hundreds) that ``run()`` costs on ``store``."""
    counted = itertools.count()
    conn = store._conn()
    conn.set_progress_handler(lambda: next(counted) and 0, 100)
    try:
        run()
    finally:
        conn.set_progress_handler(None, 0)
    return next(counted)


@pytest.mark.parametrize(("name", "kwargs"), LISTINGS, ids=[n for n, _ in LISTINGS])
def test_sqlite_a_page_costs_the_same_at_ten_times_the_jobs(tmp_path, name, kwargs):
    # A walk's page costs a page however many jobs the store holds; another state's
    # costs the jobs in that state, however many finished ones the store holds: its
    # 9,000 more cases are DONE only.
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    admin = Admin(store)
    fill(store, 1_000)
    first = admin.jobs(limit=10, **kwargs)
    assert len(first.items) == 10 and first.next_cursor is not None
    small = steps(store, lambda: admin.jobs(limit=10, after=first.next_cursor, **kwargs))
    # Older cases would do too: these are newer.
    fill(store, 9_000, start=1_000, done_only=not only_walked(kwargs))
    first = admin.jobs(limit=10, **kwargs)
    large = steps(store, lambda: admin.jobs(limit=10, after=first.next_cursor, **kwargs))
    # Reading and sorting every match costs ten times as much here; a page costs the same.
    assert large <= 2 * small + 2, (name, small, large)
    store.close()


def _plans(store: Any, path: Any, kwargs: dict[str, Any]) -> list[list[str]]:
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    Admin(store).jobs(limit=10, **kwargs)
    store._conn().set_trace_callback(None)
    check = sqlite3.connect(path)
    try:
        return [
            [row[3] for row in check.execute(f"EXPLAIN QUERY PLAN {sql}")]
            for sql in statements
            if sql.startswith("SELECT")
        ]
    finally:
        check.close()


@pytest.mark.parametrize(("name", "kwargs"), LISTINGS, ids=[n for n, _ in LISTINGS])
def test_sqlite_listings_walk_a_listing_index_or_read_a_state(tmp_path, name, kwargs):
    path = tmp_path / "jobs.db"
    store = open_store(f"sqlite:///{path}")
    fill(store, 200)
    [plan] = _plans(store, path, kwargs)
    reads = [
        (n, line) for n, line in enumerate(plan) if line.startswith(("SCAN jobs", "SEARCH jobs"))
    ]
    walks = [(n, line) for n, line in reads if "USING INDEX jobs_listed" in line]
    assert len(walks) == walked(kwargs), (name, plan)
    for n, _ in walks:
        # A walk in the listing's order needs no sort.
        assert not (n + 1 < len(plan) and plan[n + 1].startswith("USE TEMP B-TREE")), plan
    # Every other part (a state but DONE, or a range between the known states, which
    # catches a row whose state is no state) reads that state's jobs, then sorts them.
    others = [line for _, line in reads if "USING INDEX jobs_listed" not in line]
    assert all("USING INDEX jobs_claim (state" in line for line in others), (name, plan)
    assert len(reads) == len(walks) + len(others) >= 1, (name, plan)
    store.close()


def test_sqlite_a_listing_by_case_reads_that_case(tmp_path):
    path = tmp_path / "jobs.db"
    store = open_store(f"sqlite:///{path}")
    fill(store, 200)
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    listed = store.query_jobs(JobQuery(case_id="c000007"), limit=10)
    assert [j.record.id for j in listed] == ["c000007.1", "c000007.0", "c000007"]
    check = sqlite3.connect(path)
    [sql] = [s for s in statements if s.startswith("SELECT")]
    plan = " ".join(row[3] for row in check.execute(f"EXPLAIN QUERY PLAN {sql}"))
    check.close()
    assert "jobs_case" in plan, plan
    store.close()


def test_postgresql_listings_read_an_index(fresh_pg_url):
    import psycopg

    store = open_store(fresh_pg_url)
    fill(store, 3_000)
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE jobs")
        for name, kwargs in LISTINGS:
            for after in (None, "cursor"):
                statements: list[tuple[str, Any]] = []
                read = store._read

                def traced(
                    sql: str, params: Any, what: str, read: Any = read, seen: Any = statements
                ) -> Any:
                    seen.append((sql, params))
                    return read(sql, params, what)

                store._read = traced
                admin = Admin(store)
                page = admin.jobs(limit=10, **kwargs)
                statements.clear()
                cursor = page.next_cursor if after else None
                admin.jobs(limit=10, after=cursor, **kwargs)
                del store._read
                [(sql, params)] = statements
                plan = "\n".join(
                    row[0] for row in conn.execute("EXPLAIN " + store._pg(sql), params)
                )
                assert "Seq Scan" not in plan, f"{name}:\n{plan}"
                if walked(kwargs):
                    # Everything or DONE: walked backwards in the listing's order.
                    walks = plan.count("Index Scan Backward using jobs_listed")
                    assert walks >= 1, f"{name}:\n{plan}"
    store.close()


def _walk(admin: Admin, kwargs: dict[str, Any], limit: int, between: Any = None) -> list[str]:
    """Every id a listing gives, page by page by cursor (``between`` runs after page 1)."""
    ids: list[str] = []
    cursor = None
    while True:
        page = admin.jobs(limit=limit, after=cursor, **kwargs)
        ids.extend(job.id for job in page.items)
        if page.next_cursor is None:
            assert page.next_offset is None
            return ids
        if between is not None and cursor is None:
            between()
        cursor = page.next_cursor


def test_pages_by_cursor_list_every_job_once_newest_first_then_by_id(store):
    # Jobs created at one time are ordered by id, by code point in every store
    # (PostgreSQL's collation would put "b" before "B"); a SQL store's batch shares one.
    odd = ["b", "B", "é", "e", "Ä", "z-1", "z-10", "z-9"]
    store.create_many([JobRecord(i, i, "w", 1, "a", {}) for i in odd])
    fill(store, 120)
    admin = Admin(store)
    everything = store.query_jobs(JobQuery(), limit=10_000)
    expected = sorted(everything, key=lambda j: (j.created_at, j.record.id), reverse=True)
    assert [j.record.id for j in everything] == [j.record.id for j in expected]
    first = everything[-8:]
    if len({j.created_at for j in first}) == 1:  # one time for the batch (SQL stores)
        assert [j.record.id for j in first] == sorted(odd, reverse=True)
    created = itertools.count(10_000)
    for name, kwargs in LISTINGS:
        want = [j.id for j in admin.jobs(limit=10_000, **kwargs).items]
        assert want, name
        # Cases created between pages are newer than the cursor: they do not shift it.
        more = lambda: fill(store, 3, start=next(created) * 3)  # noqa: E731
        assert _walk(admin, kwargs, limit=7, between=more) == want, name
        assert _walk(admin, kwargs, limit=1) == [
            j.id for j in admin.jobs(limit=10_000, **kwargs).items
        ]


def test_offset_still_pages_and_counts_past_a_cursor(store):
    fill(store, 30)
    admin = Admin(store)
    every = [j.id for j in admin.jobs(limit=1_000).items]
    page = admin.jobs(limit=10, offset=5)
    assert [j.id for j in page.items] == every[5:15] and page.next_offset == 15
    past = admin.jobs(limit=10, after=page.next_cursor, offset=3)
    assert [j.id for j in past.items] == every[18:28] and past.next_offset == 13


@pytest.mark.parametrize("states", [(), ("faulted",), ("faulted", "done")])
def test_an_offset_and_a_limit_at_the_command_s_bounds_list_nothing(store, states):
    # jobs list takes each up to 2**62: their sum went past SQL's integers (SQLite:
    # OverflowError with a traceback; PostgreSQL: "bigint out of range").
    fill(store, 3)
    page = Admin(store).jobs(state=states or None, limit=2**62, offset=2**62)
    assert page.items == [] and page.next_offset is None


@pytest.mark.parametrize(
    "cursor",
    [
        *("", "abc", "W10", "WzEsIDJd", "WyJ4IiwgInkiXQ", "bm90IGpzb24", "W3RydWUsICJhIl0"),
        # A time as a row holds it, but no such: bytes not hex, text not a str, other keys.
        "W3siYnl0ZXMiOiAienoifSwgImEiXQ",
        "W3sidGV4dCI6IDF9LCAiYSJd",
        "W3sieCI6ICJ5In0sICJhIl0",
        "W3sidGV4dCI6ICJhIiwgImJ5dGVzIjogIjAwIn0sICJhIl0",
    ],
)
def test_a_cursor_that_is_none_is_refused_by_name(cursor):
    with Admin("memory://") as admin, pytest.raises(ValueError, match="is not a listing cursor"):
        admin.jobs(after=cursor)


def _crafted(job_id: str) -> str:
    text = json.dumps([1.0, job_id])  # ASCII: a lone surrogate is written as its escape
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("job_id", ["\ud800", "a\x00b"])
def test_a_cursor_naming_an_id_no_store_holds_is_refused_by_name(store, job_id):
    # No case id ever held a lone surrogate or a NUL: SQLite could not encode the first
    # (UnicodeEncodeError) and PostgreSQL's text holds neither, so the store failed.
    fill(store, 3)
    with Admin(store) as admin, pytest.raises(ValueError, match="is not a listing cursor"):
        admin.jobs(after=_crafted(job_id))


@pytest.mark.parametrize("states", [None, "ready"])
@pytest.mark.parametrize("edited", ["no number", "inf", "-inf"])
def test_pages_by_cursor_list_a_job_whose_creation_time_is_no_number_once(
    make_sql_store, states, edited
):
    # SQLite orders a text after every number, PostgreSQL NaN: such a row is listed
    # first, and its page's cursor named it created at 0.0, past every other job; one
    # at minus infinity, listed last, was listed again after every other job.
    store = make_sql_store()
    for n in range(5):
        store.create(JobRecord(f"job-{n}", f"job-{n}", "w", 1, "a", {}))
    value = {"no number": "'x'", "inf": "1e999", "-inf": "-1e999"}[edited]
    if isinstance(store, PostgresStore):
        value = {"no number": "'NaN'", "inf": "'Infinity'", "-inf": "'-Infinity'"}[edited]
    make_sql_store.raw(f"UPDATE jobs SET created_at = {value} WHERE id = 'job-2'")
    admin = Admin(store)
    listed: list[str] = []
    cursor = None
    for _ in range(10):
        page = admin.jobs(state=states, limit=1, after=cursor)
        listed += [j.id for j in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(listed) == [f"job-{n}" for n in range(5)], listed
    assert listed[-1 if edited == "-inf" else 0] == "job-2"


# Creation times edited by hand, several of each kind a store can hold: SQLite keeps
# text and bytes in any column (ordered after every number: texts by code point, then
# bytes), PostgreSQL's double precision NaN (after every number) and infinities.
_EDITED = {
    "sqlite": [
        *("'x'", "'y'", "'x'", "x'00ff'", "x'01'", "1e999", "1e999", "-1e999", "-1e999"),
        # Text that is not UTF-8 (read as its escaped form, "\\xff", ordered elsewhere).
        *("CAST(x'ff' AS TEXT)", "CAST(x'78ff' AS TEXT)"),
    ],
    "postgres": ["'NaN'"] * 3 + ["'Infinity'"] * 2 + ["'-Infinity'"] * 2,
}


@pytest.mark.parametrize("limit", [1, 2, 3])
@pytest.mark.parametrize("states", [None, "ready", ["ready", "faulted"]])
def test_pages_by_cursor_list_every_job_once_whatever_several_creation_times_hold(
    make_sql_store, states, limit
):
    # A page ending on one such row named it created at plus infinity (minus infinity),
    # past every other row so edited: the next page skipped them.
    store = make_sql_store()
    kind = "postgres" if isinstance(store, PostgresStore) else "sqlite"
    edited = _EDITED[kind]
    for n in range(len(edited) + 3):
        store.create(JobRecord(f"job-{n}", f"job-{n}", "w", 1, "a", {}))
    for n, value in enumerate(edited):
        make_sql_store.raw(f"UPDATE jobs SET created_at = {value} WHERE id = 'job-{n}'")
    admin = Admin(store)
    whole = [j.id for j in admin.jobs(state=states, limit=1_000).items]
    assert sorted(whole) == sorted(f"job-{n}" for n in range(len(edited) + 3))
    listed: list[str] = []
    cursor = None
    for _ in range(len(whole) + 1):
        page = admin.jobs(state=states, limit=limit, after=cursor)
        listed += [j.id for j in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert listed == whole


@pytest.mark.parametrize(
    ("created", "past_all"),
    [
        ({"text": "x"}, True),
        ({"bytes": "00ff"}, True),
        (float("nan"), True),
        (float("inf"), True),
        (float("-inf"), False),
    ],
    ids=["text", "bytes", "nan", "inf", "-inf"],
)
def test_a_cursor_naming_any_kind_of_time_pages_on_every_store(store, created, past_all):
    # A cursor names a creation time as its row holds it, which another store's rows
    # cannot hold (SQLite no NaN, PostgreSQL no text): each store places it as SQL
    # orders those (numbers, NaN, text, bytes), its jobs all numbers.
    fill(store, 3)
    text = json.dumps([created, "m"])
    cursor = base64.urlsafe_b64encode(text.encode()).decode()
    with Admin(store) as admin:
        every = [j.id for j in admin.jobs(limit=100).items]
        listed = [j.id for j in admin.jobs(limit=100, after=cursor).items]
    assert listed == (every if past_all else [])
