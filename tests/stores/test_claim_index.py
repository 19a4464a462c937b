"""A claim looks among the unfinished roots only, not every root the store ever held.

Migration 6 adds ``jobs_claimable``, a partial index of the unfinished roots; a claim
names the same states, so the index serves it and a store's claims do not slow down as
its finished cases pile up.
"""

import sqlite3
import time

from records import record

from actors import JobState
from actors.stores import open_store


def _with_history(store, finished: int, free: int) -> list[str]:
    """``finished`` ended cases first (the store's history), then ``free`` new ones."""
    for n in range(finished):
        store.create(record(f"old{n}", state=JobState.DONE))
    ids = [f"new{n}" for n in range(free)]
    for job_id in ids:
        store.create(record(job_id))
    return ids


def test_a_claim_takes_the_oldest_free_cases_behind_the_finished_ones(sql_store):
    ids = _with_history(sql_store, finished=300, free=3)
    got = sql_store.claim("w", now=time.time(), lease_seconds=5.0, limit=2)
    assert [job.id for job in got] == ids[:2]
    assert [job.id for job in sql_store.claim("v", time.time(), 5.0, limit=5)] == ids[2:]


def test_sqlite_claims_read_the_free_roots_and_lease_indexes(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    _with_history(store, finished=50, free=1)
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    assert len(store.claim("w", now=time.time(), lease_seconds=5.0, limit=1)) == 1
    expired = [
        s for s in statements if s.startswith("SELECT id, lease_owner, lease_expires FROM jobs")
    ]
    # The free roots: their workflows first (a probe each), then each one's oldest.
    [pick] = [s for s in statements if s.startswith("SELECT id, lease_owner, lease_expires, k")]
    pairs = [s for s in statements if s.startswith("SELECT CAST(workflow")]
    assert len(pairs) == 3, pairs  # the one workflow; no later version, no next workflow
    [holders] = [s for s in statements if s.startswith("WITH RECURSIVE holders")]
    check = sqlite3.connect(tmp_path / "jobs.db")
    for statement in [pick, *pairs]:
        plan = " ".join(str(row) for row in check.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert "SEARCH jobs USING INDEX jobs_free_served" in plan and "SCAN jobs" not in plan, plan
    # Leases of the release before, and those past HELD (edited by hand), one state each.
    assert len(expired) == 6, expired
    for statement in expired:
        plan = " ".join(str(row) for row in check.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert "jobs_claim " in plan, plan
        assert "lease_expires<?" in plan or "lease_expires>?" in plan, plan
    plan = " ".join(str(row) for row in check.execute(f"EXPLAIN QUERY PLAN {holders}"))
    assert "jobs_lease" in plan and "SCAN jobs" not in plan, plan
    check.close()
    store.close()


def _claim_steps(store, owner: str, now: float, served=None) -> int:
    """SQLite's virtual-machine steps (in hundreds) of one claim by ``owner``."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store._conn().set_progress_handler(count, 100)
    try:
        store.claim(owner, now=now, lease_seconds=60.0, limit=100, workflows=served)
    finally:
        store._conn().set_progress_handler(None, 100)
    return steps[0]


def test_sqlite_a_claim_reads_nothing_of_the_cases_live_workers_hold(tmp_path):
    """A claim that finds nothing costs the same with 100 cases held as with 3,000."""
    costs = []
    for held in (100, 3_000):
        store = open_store(f"sqlite:///{tmp_path / f'held{held}.db'}")
        _with_history(store, finished=0, free=held)
        store.owner = "w"
        now = time.time()
        assert len(store.claim("w", now=now, lease_seconds=600.0, limit=held)) == held
        store.owner = "v"
        costs.append(_claim_steps(store, "v", now))
        assert store.claim("v", now=now, lease_seconds=60.0, limit=100) == []
        store.close()
    assert costs[1] <= costs[0] + 5, costs  # walking the held roots: 30 times as many


def test_sqlite_a_claim_of_one_case_reads_it_by_its_id(tmp_path):
    # An event for a case this worker does not hold tries to claim that one case: it
    # must not read every unfinished root the other workers hold to find it.
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    ids = _with_history(store, finished=0, free=40)
    assert len(store.claim("w", now=time.time(), lease_seconds=60.0, limit=39)) == 39
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    assert store.claim("v", time.time(), 60.0, limit=1, case_id=ids[0]) == []  # w holds it
    assert [job.id for job in store.claim("v", time.time(), 60.0, 1, case_id=ids[-1])] == [ids[-1]]
    picks = [s for s in statements if s.startswith("SELECT id, lease_owner, lease_expires")]
    check = sqlite3.connect(tmp_path / "jobs.db")
    for pick in picks:
        plan = " ".join(str(row) for row in check.execute(f"EXPLAIN QUERY PLAN {pick}"))
        assert "(id=?)" in plan and "jobs_claimable" not in plan, plan
    check.close()
    store.close()


def _of(workflow: str, n: int, prefix: str) -> list:
    return [record(f"{prefix}{i}", workflow=workflow) for i in range(n)]


def test_sqlite_a_claim_reads_nothing_of_the_workflows_it_does_not_serve(tmp_path):
    """Free cases and a stopped worker's cases of another workflow cost a claim nothing."""
    costs = []
    for waiting in (100, 3_000):
        store = open_store(f"sqlite:///{tmp_path / f'other{waiting}.db'}")
        for job in _of("refund", waiting, "free") + _of("refund", waiting, "held"):
            store.create(job)
        now = time.time()
        store.owner = "gone"  # a worker that took half of them, then stopped
        taken = store.claim("gone", now=now, lease_seconds=1.0, limit=waiting)
        assert len(taken) == waiting
        later = now + 10.0
        steps = _claim_steps(store, "invoices", later, [("invoice", 1)])
        assert store.claim("invoices", later, 60.0, 100, workflows=[("invoice", 1)]) == []
        costs.append(steps)
        store.close()
    assert costs[1] <= costs[0] + 5, costs  # reading them all: 30 times as many


def test_a_claim_of_several_workflows_takes_the_oldest_of_them_all(sql_store):
    """Each served workflow's cases are read apart, then taken oldest first across them."""
    order = []
    for i in range(4):
        for workflow in ("a", "b", "c"):
            job = record(f"{workflow}{i}", workflow=workflow)
            sql_store.create(job)
            order.append(job.id)
    served = [("a", 1), ("c", 1)]
    mine = [job_id for job_id in order if job_id[0] in "ac"]
    got = sql_store.claim("w", time.time(), 60.0, limit=5, workflows=served)
    assert sorted(job.id for job in got) == sorted(mine[:5])
    rest = sql_store.claim("w", time.time(), 60.0, limit=10, workflows=served)
    assert sorted(job.id for job in rest) == sorted(mine[5:])


def test_a_stopped_workers_cases_go_only_to_a_worker_serving_them(sql_store):
    for job in _of("a", 3, "a") + _of("b", 3, "b"):
        sql_store.create(job)
    now = time.time()
    sql_store.owner = "gone"
    assert len(sql_store.claim("gone", now, 1.0, limit=6)) == 6
    sql_store.owner = None
    later = now + 10.0
    got = sql_store.claim("bee", later, 60.0, limit=10, workflows=[("b", 1)])
    assert sorted(job.id for job in got) == ["b0", "b1", "b2"]
    got = sql_store.claim("all", later, 60.0, limit=2, workflows=[("a", 1), ("b", 1)])
    assert len(got) == 2 and {job.id for job in got} <= {"a0", "a1", "a2"}  # any two on PostgreSQL


def test_a_worker_serving_hundreds_of_workflow_versions_claims_the_oldest(sql_store):
    """More served pairs than one statement reads (SQLite allows 500 terms in a compound)."""
    served = [("w", version) for version in range(1, 651)]
    for version in (600, 3, 640, 150):  # oldest first
        sql_store.create(record(f"v{version}", workflow="w", version=version))
    sql_store.create(record("other", workflow="x"))
    got = sql_store.claim("me", time.time(), 60.0, limit=3, workflows=served)
    assert sorted(job.id for job in got) == ["v3", "v600", "v640"]
    assert [job.id for job in sql_store.claim("me", time.time(), 60.0, 5, workflows=served)] == [
        "v150"
    ]
