"""PostgreSQL: a claim and a group's read of its join counts use their indexes unanalyzed.

Until autovacuum has analyzed a table (minutes after it was created or grew fast) the
planner guesses that ``column = ANY(array)`` matches 1/200 of the table per element,
and reads the whole table instead of the index for an array of a hundred ids: a claim
of many cases read all of ``jobs`` twice, and each group read all of ``join_counts``,
so both cost more the more the store held. The statements look each id up on its own.
It also takes the unfinished roots for a few, so a claim read every free case and
sorted them to take the oldest; it walks the index in order instead.
"""

import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql as q

from actors.stores import open_store

pytestmark = pytest.mark.postgres

FINISHED = 20_000
FREE = 2_000
TAKEN = 120


def _unanalyzed(url: str) -> None:
    """The schema, ``FINISHED`` ended cases of 5 rows and ``FREE`` new ones, no statistics."""
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("jobs", "join_counts"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        conn.execute(
            "INSERT INTO jobs (id, case_id, parent_id, workflow, version, data, state, "
            "created_at, updated_at, finished_at) SELECT 'old' || n, 'old' || (n / 5), "
            "CASE WHEN n %% 5 > 0 THEN 'old' || (n / 5) END, 'w', 1, '{}', 'done', 1, 1, 1 "
            "FROM generate_series(0, %s) AS n",
            (FINISHED * 5 - 1,),
        )
        conn.execute(
            "INSERT INTO jobs (id, case_id, workflow, version, data, state, created_at, "
            "updated_at) SELECT 'new' || n, 'new' || n, 'w', 1, '{}', 'ready', 2, 2 "
            "FROM generate_series(0, %s) AS n",
            (FREE - 1,),
        )
        conn.execute(
            "INSERT INTO join_counts (parent_id, gen, arrived) "
            "SELECT 'old' || n, 1, 4 FROM generate_series(0, %s) AS n",
            (FINISHED - 1,),
        )
        found = conn.execute(
            "SELECT COUNT(*) FROM pg_statistic WHERE starelid IN "
            "('jobs'::regclass, 'join_counts'::regclass)"
        ).fetchone()
        assert found == (0,)  # the planner has only its guesses


class Statements:
    """Every statement (and its parameters) psycopg runs while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        execute = psycopg.Connection.execute

        def traced(conn: Any, query: Any, params: Any = None, **kw: Any) -> Any:
            with self._lock:
                self.seen.append((str(query), params))
            return execute(conn, query, params, **kw)

        monkeypatch.setattr(psycopg.Connection, "execute", traced)

    def plans(self, url: str, starts: str) -> list[str]:
        """The plan of each statement seen that starts with ``starts``, as planned then.

        Each is explained in a transaction of its own after the settings (``SET``) seen.
        """
        found = []
        with psycopg.connect(url) as conn:
            for query, params in self.seen:
                if query.lstrip().startswith(starts):
                    for setting, _ in self.seen:
                        if setting.startswith("SET "):
                            conn.execute(q.SQL(setting))
                    rows = conn.execute(q.SQL("EXPLAIN ") + q.SQL(query), params).fetchall()
                    found.append("\n".join(row[0] for row in rows))
                    conn.rollback()
        return found


def test_a_claim_of_many_cases_reads_their_rows_by_index(fresh_pg_url, monkeypatch):
    _unanalyzed(fresh_pg_url)
    store = open_store(fresh_pg_url)
    seen = Statements(monkeypatch)
    got = store.claim("w", now=time.time(), lease_seconds=60.0, limit=TAKEN)
    monkeypatch.undo()
    assert [job.id for job in got] == [f"new{n}" for n in range(TAKEN)]  # the oldest
    taken = store.lease_owners([f"new{n}" for n in range(TAKEN + 1)])
    assert taken == {**{f"new{n}": "w" for n in range(TAKEN)}, f"new{TAKEN}": None}
    *expired, pick = seen.plans(fresh_pg_url, "SELECT id, lease_owner, lease_expires")
    [holders] = seen.plans(fresh_pg_url, "WITH RECURSIVE holders")
    selects = seen.plans(fresh_pg_url, "SELECT id, case_id")
    updates = seen.plans(fresh_pg_url, "UPDATE jobs SET lease_owner")
    store.close()
    # The oldest free roots, walking the free roots' index in order: not all of them
    # read and sorted.
    assert "Index Scan using jobs_free" in pick, pick
    assert "Sort" not in pick, pick
    # Leases of the release before whose expiry passed, and those past HELD (edited by
    # hand): by state and expiry, one range each.
    assert len(expired) == 6, expired
    for plan in expired:
        assert "jobs_claim " in plan, plan
    # The holders of leased cases, one probe of the lease index each: no table scan.
    assert "jobs_lease" in holders, holders
    assert "Seq Scan on jobs" not in holders, holders
    assert selects and updates
    for plan in selects + updates:
        assert "Seq Scan" not in plan, plan
        assert "jobs_case" in plan, plan


def test_a_claim_of_served_workflows_reads_only_theirs_by_index(fresh_pg_url, monkeypatch):
    """The free cases of the served workflow, oldest first, by jobs_free_served: no sort."""
    _unanalyzed(fresh_pg_url)
    store = open_store(fresh_pg_url)
    seen = Statements(monkeypatch)
    got = store.claim("w", time.time(), 60.0, limit=TAKEN, workflows=[("w", 1), ("x", 2)])
    assert store.claim("v", time.time(), 60.0, limit=5, workflows=[("x", 1)]) == []
    monkeypatch.undo()
    assert [job.id for job in got] == [f"new{n}" for n in range(TAKEN)]  # the oldest
    picks = seen.plans(fresh_pg_url, "SELECT id, lease_owner, lease_expires, k FROM (VALUES")
    store.close()
    assert len(picks) == 2, picks
    for pick in picks:
        assert "jobs_free_served" in pick, pick
        assert "Seq Scan on jobs" not in pick, pick


def test_a_claim_beside_cases_a_live_worker_holds_reads_none_of_them(fresh_pg_url, monkeypatch):
    """Held roots are the lease index's: a claim's look for expired leases keeps off it."""
    _unanalyzed(fresh_pg_url)
    store = open_store(fresh_pg_url)
    store.owner = "holder"
    assert len(store.claim("holder", time.time(), 3600.0, limit=FREE)) == FREE
    store.owner = None
    seen = Statements(monkeypatch)
    assert store.claim("v", time.time(), 60.0, limit=5, workflows=[("w", 1)]) == []
    monkeypatch.undo()
    picks = seen.plans(fresh_pg_url, "SELECT id, lease_owner, lease_expires")
    store.close()
    expired = [p for p in picks if "lease_expires <" in p]
    past = [p for p in picks if "lease_expires >" in p]
    assert len(expired) == len(past) == 3, picks
    for plan in expired + past:
        assert "jobs_claim " in plan, plan


def test_a_group_reads_the_counts_of_its_parents_by_index(fresh_pg_url):
    from actors.stores._pg_group import join_reads

    _unanalyzed(fresh_pg_url)
    parents = [f"old{n}" for n in range(0, FINISHED, 200)]
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:

        def execute(sql: str, params: Any) -> Any:
            return conn.execute(sql.replace("?", "%s"), params)

        counts, _ = join_reads(execute, [*parents, "nobody"], [])
        assert counts == {(pid, 1): 4 for pid in parents}
        from actors.stores._pg_group import _COUNTS_OF

        explain = q.SQL("EXPLAIN ") + q.SQL(_COUNTS_OF.replace("?", "%s"))
        plan = "\n".join(row[0] for row in conn.execute(explain, (parents,)))
    assert "Seq Scan" not in plan, plan
