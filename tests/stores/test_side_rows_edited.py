"""Rows edited by hand in columns a job is not read from: the worker goes on.

SQLite keeps text in any column (``job_requests.posted_at``, ``workers.expires``,
``jobs.tries``); reading it as a number raised on the worker's Scheduler thread, which
stopped the worker and every case it ran.
"""

import math
import sqlite3

from records import record

from actors.stores import SqliteStore


def test_a_request_whose_posted_time_is_text_is_taken(tmp_path):
    path = tmp_path / "jobs.db"
    store = SqliteStore(path)
    try:
        store.create(record("c1"))
        assert [job.id for job in store.claim("w1", 1.0, 30.0, limit=5)] == ["c1"]
        request_id = store.post_request("c1", "c1", "cancel", None, "alice", now=2.0)
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("UPDATE job_requests SET posted_at = 'x' WHERE id = ?", (request_id,))
        [taken] = store.take_requests("w1", now=3.0)
        assert (taken.id, taken.kind, taken.job_id) == (request_id, "cancel", "c1")
        assert math.isnan(taken.posted_at)
        got = store.get_request(request_id)
        assert got is not None
        assert got.taken_by == "w1"
    finally:
        store.close()


def test_a_renewal_over_a_lease_expiry_edited_into_text_goes_on(tmp_path, caplog):
    path = tmp_path / "jobs.db"
    store = SqliteStore(path)
    try:
        store.create(record("c1"))
        store.claim("w1", 1.0, 30.0, limit=5)
        store.heartbeat("w1", 2.0, 30.0)
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("UPDATE workers SET expires = 'x' WHERE owner = 'w1'")
        store.heartbeat("w1", 3.0, 30.0)
        with sqlite3.connect(path) as conn:
            [(expires,)] = conn.execute("SELECT expires FROM workers WHERE owner = 'w1'")
        assert isinstance(expires, float)
        # Not taken for a second process renewing under the same name.
        assert "another process renews" not in caplog.text
    finally:
        store.close()


def test_a_claim_takes_a_case_whose_tries_are_text_and_the_others(tmp_path):
    """``tries > 0`` of text raised in the claim: a worker exited at its start."""
    path = tmp_path / "jobs.db"
    store = SqliteStore(path)
    try:
        store.create(record("edited"))
        store.create(record("other"))
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("UPDATE jobs SET tries = 'y' WHERE id = 'edited'")
        claimed = store.claim("w1", 1.0, 30.0, limit=5)
        assert sorted(job.id for job in claimed) == ["edited", "other"]
    finally:
        store.close()
