"""No statement the engine runs reads a whole table of its store.

On SQLite every statement of a run is captured as SQLite expanded it (parameters in
place) and its query plan is asked for; on PostgreSQL the plan of a group's read of its
arrivals is checked with the planner's nested loops made dear. A scan of one of the
store's tables would make a statement cost more the more the store holds, so a run would
slow down as its store grows (a group's read of join arrivals once scanned every arrival
ever recorded, on both databases).
"""

import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow, enqueue
from actors.stores import open_store
from actors.stores._sqlite_admit import prepare as prepare_admissions

TABLES = ("jobs", "step_history", "join_arrivals", "join_counts", "job_requests")


CASES = 20


def _flow(ended: threading.Semaphore) -> Workflow:
    def mark(key: str) -> Any:
        def task(data: dict[str, Any]) -> None:
            data[key] = True

        return task

    def last(data: dict[str, Any]) -> None:
        data["z"] = True
        ended.release()

    return Workflow(
        "fan",
        [
            Sequential("a", mark("a"), next="split"),
            ParallelSplit("split", branches=["b0", "b1", "b2"]),
            Sequential("b0", mark("b0"), next="join"),
            Sequential("b1", mark("b1"), next="join"),
            Sequential("b2", mark("b2"), next="join"),
            Synchronize("join", next="z"),
            Sequential("z", last),
        ],
        start="a",
    )


class Captured:
    """Every statement any connection of this process ran while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements: set[str] = set()
        self._lock = threading.Lock()
        connect = sqlite3.connect

        def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = connect(*args, **kwargs)
            conn.set_trace_callback(self._add)
            return conn

        monkeypatch.setattr(sqlite3, "connect", traced)

    def _add(self, sql: str) -> None:
        with self._lock:
            self.statements.add(sql)

    def scans(self, path: Path) -> list[str]:
        """The statements whose plan scans one of the store's tables, with the scan."""
        found = []
        check = sqlite3.connect(path)
        prepare_admissions(check)  # the view admissions insert into is each connection's own
        try:
            for sql in sorted(self.statements):
                if not re.match(r"\s*(SELECT|UPDATE|INSERT|DELETE|WITH)\b", sql, re.I):
                    continue
                plan = [row[3] for row in check.execute(f"EXPLAIN QUERY PLAN {sql}")]
                bad = [p for p in plan if re.match(rf"SCAN ({'|'.join(TABLES)})\b", p)]
                if bad:
                    found.append(f"{bad}: {' '.join(sql.split())[:300]}")
        finally:
            check.close()
        return found


@pytest.mark.parametrize("owner", [None, "w1"], ids=["one-process", "worker"])
def test_a_run_with_splits_and_joins_scans_no_table(tmp_path, monkeypatch, owner):
    captured = Captured(monkeypatch)
    path = tmp_path / "jobs.db"
    ended = threading.Semaphore(0)
    flow = _flow(ended)
    url = f"sqlite:///{path}"
    store = open_store(url)
    if owner is not None:  # a worker claims them, under a lease
        ids = [enqueue(store, flow, {}) for _ in range(CASES)]
    with Mediator([flow], runners=2, store=url, owner=owner, poll_interval=0.05) as mediator:
        if owner is None:
            ids = [mediator.schedule("fan", {}).job_id for _ in range(CASES)]
        for _ in ids:
            assert ended.acquire(timeout=30)
    assert [store.get(i).state for i in ids] == [JobState.DONE] * CASES
    store.close()
    assert len(captured.statements) > 10  # the capture saw the run
    assert captured.scans(path) == []


def test_postgresql_group_reads_of_arrivals_look_each_key_up(fresh_pg_url):
    # A group asks which of its arrivals are stored already. Its statement must look
    # each key up in the primary key whatever the planner estimates; joined plainly to
    # the keys, PostgreSQL may hash a scan of the whole table instead (it does when
    # nested loops look dearer, as here, and did in W runs), so every group would read
    # every arrival the store holds.
    import json

    import psycopg
    from psycopg import sql as q

    from actors.stores._pg_group import _PRESENT_OF

    open_store(fresh_pg_url).close()  # the schema
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO join_arrivals (parent_id, gen, branch_index, data) "
            "SELECT 'p' || (n / 4), 1, n % 4, '{}' FROM generate_series(0, 19999) AS n"
        )
        conn.execute("ANALYZE join_arrivals")
        conn.execute("SET enable_nestloop = off")
        keys = json.dumps([["p7", 1, b] for b in range(4)] + [["p7", 2, 0]])
        for mode in ("force_custom_plan", "force_generic_plan"):
            conn.execute(f"SET plan_cache_mode = {mode}")
            name = f"present_{mode}"
            conn.execute(f"PREPARE {name}(jsonb) AS {_PRESENT_OF.replace('?', '$1')}")
            run = q.SQL("EXECUTE {}({})").format(q.Identifier(name), q.Literal(keys))
            assert sorted(conn.execute(run).fetchall()) == [("p7", 1, b) for b in range(4)]
            plan = "\n".join(row[0] for row in conn.execute(q.SQL("EXPLAIN ") + run))
            assert "Seq Scan" not in plan, f"{mode}:\n{plan}"
