"""One lease per worker: held cases follow their worker's lease, however old their claim.

A heartbeat renews the worker's row in ``workers``; a case it holds is marked held
(``HELD``) and is free once that row expired, all the worker's cases at once. Roots
leased by a worker of the release before keep their own expiry, and such a worker never
takes a case a worker of this release holds.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest
from bounds import TIMEOUT
from records import record

from actors._polling import Poller
from actors.stores._postgres import PostgresStore
from actors.stores._statements import HELD

rec = partial(record, workflow="order", step="reserve")


def test_a_live_workers_cases_are_not_claimable_however_old_their_claim(store):
    store.create(rec("a"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)
    for now in (108.0, 116.0, 124.0, 132.0):  # its claim is long past, its lease is not
        store.heartbeat("w1", now=now, lease_seconds=10.0)
        assert store.claim("w2", now=now + 1.0, lease_seconds=10.0, limit=5) == []
    assert store.unclaimed(141.9) == {}
    assert store.leases_held(141.9) == [("w1", 1, 142.0)]
    [job] = store.claim("w2", now=142.1, lease_seconds=10.0, limit=5)  # w1 stopped renewing
    assert job.id == "a"
    assert job.taken_over is True


def test_a_dead_workers_cases_are_free_all_at_once_when_its_lease_expires(store):
    for name in "abc":
        store.create(rec(name))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)  # a
    store.claim("w1", now=105.0, lease_seconds=10.0, limit=2)  # b, c: its lease to 115
    assert store.unclaimed(114.9) == {}
    assert store.claim("w2", now=114.9, lease_seconds=10.0, limit=5) == []
    assert store.unclaimed(115.1) == {("order", 1): 3}
    taken = store.claim("w2", now=115.1, lease_seconds=10.0, limit=5)
    assert [j.id for j in taken] == ["a", "b", "c"]
    assert all(j.taken_over for j in taken)
    assert store.lease_owners(["a", "b", "c"]) == dict.fromkeys("abc", "w2")
    actions = [r.action for r in store.step_history("a") if r.action]
    assert actions == ["taken over from w1 (its lease expired)"]


def test_a_stopped_workers_cases_are_taken_before_free_ones(store):
    store.create(rec("free"))  # the older case, never started
    store.create(rec("held"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1, case_id="held")
    # w1 stopped: the case it had in flight goes on first.
    assert [j.id for j in store.claim("w2", now=111.0, lease_seconds=10.0, limit=1)] == ["held"]
    assert [j.id for j in store.claim("w2", now=112.0, lease_seconds=10.0, limit=1)] == ["free"]


def test_a_worker_restarted_under_its_name_takes_its_own_cases_back_first(store):
    for name in ("d0", "d1", "x0", "x1", "x2"):  # a dead worker's cases are the older
        store.create(rec(name))
    store.claim("D", now=100.0, lease_seconds=10.0, limit=2)
    store.claim("X", now=100.0, lease_seconds=10.0, limit=3)
    # Both stopped; X restarts under its name with room for two of its three.
    taken = store.claim("X", now=120.0, lease_seconds=10.0, limit=2, reclaim=True)
    assert [j.id for j in taken] == ["x0", "x1"]
    assert all(j.taken_over for j in taken)  # watched: its previous process stopped
    rest = store.claim("Y", now=121.0, lease_seconds=10.0, limit=5)
    assert sorted(j.id for j in rest) == ["d0", "d1", "x2"]


def test_an_expired_lease_of_the_release_before_is_free_whoever_it_names(make_sql_store):
    store = make_sql_store()
    for name in ("live", "nobody"):
        store.create(rec(name))
    store.heartbeat("w0", now=100.0, lease_seconds=600.0)  # w0 has a live row
    # Leases as a worker of the release before wrote them, expired at 110: one names a
    # worker that lives now (a name reused), one names nobody.
    make_sql_store.raw(
        "UPDATE jobs SET lease_owner = 'w0', lease_expires = 110.0 WHERE id = 'live'"
    )
    make_sql_store.raw(
        "UPDATE jobs SET lease_owner = NULL, lease_expires = 110.0 WHERE id = 'nobody'"
    )
    assert store.unclaimed(120.0) == {("order", 1): 2}
    taken = store.claim("w1", now=120.0, lease_seconds=10.0, limit=5)
    assert sorted(j.id for j in taken) == ["live", "nobody"]


def test_the_cases_of_a_worker_whose_row_is_gone_are_free(make_sql_store):
    store = make_sql_store()
    for name in "ab":
        store.create(rec(name))
    store.claim("w1", now=100.0, lease_seconds=60.0, limit=2)
    assert store.claim("w2", now=101.0, lease_seconds=10.0, limit=5) == []
    make_sql_store.raw("DELETE FROM workers WHERE owner = 'w1'")  # deleted by hand
    taken = store.claim("w2", now=102.0, lease_seconds=10.0, limit=5)
    assert sorted(j.id for j in taken) == ["a", "b"]
    assert all(j.taken_over for j in taken)


def test_a_claim_never_shortens_its_workers_lease(store):
    store.create(rec("a"))
    store.create(rec("b"))
    store.claim("w1", now=100.0, lease_seconds=60.0, limit=1)
    store.claim("w1", now=101.0, lease_seconds=5.0, limit=1)  # a shorter lease asked
    assert store.leases_held(101.0) == [("w1", 2, 160.0)]


def test_a_worker_that_wakes_after_its_lease_expired_finds_which_cases_it_lost(store):
    class Time:
        now_ = 0.0

        def now(self):
            return self.now_

    clock = Time()
    for name in "abc":
        store.create(rec(name))
    assert len(store.claim("w1", now=0.0, lease_seconds=8.0, limit=3)) == 3
    poller = Poller(clock, "w1", shared=True, lease_seconds=8.0, poll_interval=1.0, vouched=0.0)
    clock.now_ = 5.0

    def unread() -> list[str]:
        raise AssertionError("a renewal in time collected the cases held")

    assert poller.renew(store, 5.0, unread) == []  # in time: nothing is read, nor collected
    poller.vouch(5.0)
    clock.now_ = 20.0  # frozen past its lease: w2 took two of its cases meanwhile
    assert len(store.claim("w2", now=14.0, lease_seconds=8.0, limit=2)) == 2
    lost = poller.renew(store, 20.0, lambda: ["a", "b", "c"])
    assert sorted(lost) == [("a", "w2"), ("b", "w2")]
    assert store.claim("w3", now=21.0, lease_seconds=8.0, limit=5) == []  # "c" is w1's again


# -- beside workers of the release before ------------------------------------------------------

# What a worker of the release before runs: its claim's pick, and its heartbeat.
_OLD_PICK = (
    "SELECT id FROM jobs WHERE parent_id IS NULL AND state NOT IN ('done', 'faulted', "
    "'cancelled', 'shed') AND (lease_expires IS NULL OR lease_expires < ?)"
)
_OLD_BEAT = (
    "UPDATE jobs SET lease_expires = ? WHERE lease_owner = ? AND parent_id IS NULL "
    "AND lease_expires IS NOT NULL"
)


def test_old_style_and_new_style_leases_share_a_store(make_sql_store):
    store = make_sql_store()
    for name in ("old", "new"):
        store.create(rec(name))
    # A worker of the release before holds "old" until 110; one of this release "new".
    make_sql_store.raw(
        "UPDATE jobs SET lease_owner = 'was', lease_expires = 110.0 WHERE id = 'old'"
    )
    store.claim("now", now=100.0, lease_seconds=10.0, limit=1, case_id="new")
    assert store.leases_held(100.0) == [("now", 1, 110.0), ("was", 1, 110.0)]
    # The old worker's heartbeat renews its own root; its claim never sees "new" as free,
    # however late (HELD is far in the future), even once its holder is gone.
    make_sql_store.raw(_OLD_BEAT, (130.0, "was"))
    assert make_sql_store.raw(_OLD_PICK, (10.0**10,)) == [("old",)]  # not "new"
    assert make_sql_store.raw("SELECT lease_expires FROM jobs WHERE id = 'new'") == [(HELD,)]
    # A worker of this release takes "new" once its holder's lease expired, and "old"
    # once its own expiry passed.
    assert [j.id for j in store.claim("x", now=111.0, lease_seconds=10.0, limit=5)] == ["new"]
    store.heartbeat("x", now=125.0, lease_seconds=10.0)
    assert store.claim("x", now=129.9, lease_seconds=10.0, limit=5) == []
    [old] = store.claim("x", now=130.1, lease_seconds=10.0, limit=5)
    assert old.id == "old"
    assert old.taken_over is True
    assert make_sql_store.raw("SELECT lease_expires FROM jobs WHERE id = 'old'") == [(HELD,)]


def test_migration_12_keeps_the_leases_of_the_release_before(make_sql_store):
    store = make_sql_store()
    store.create(rec("a"))
    make_sql_store.raw("UPDATE jobs SET lease_owner = 'was', lease_expires = 110.0")
    assert store.unclaimed(109.0) == {}
    assert store.unclaimed(111.0) == {("order", 1): 1}
    assert [row[0] for row in make_sql_store.raw("SELECT owner FROM workers")] == []


# -- PostgreSQL: a claim and the heartbeat of the worker whose cases it takes ------------------


def _waiting_on_a_lock(url: str) -> bool:
    import psycopg

    deadline = time.monotonic() + TIMEOUT
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO workers%'"
            ).fetchone()
            if row[0]:
                return True
            conn.execute("SELECT pg_sleep(0.01)")
    return False


@pytest.fixture
def a_and_b(pg_url):
    """Two stores on one emptied PostgreSQL database; case "x" claimed by worker A at 100."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, step_history, job_requests, join_arrivals, workers")
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        a.create(rec("x"))
        a.claim("A", now=100.0, lease_seconds=10.0, limit=1)
        yield a, b
    finally:
        a.close()
        b.close()


@pytest.mark.postgres
def test_a_heartbeat_waits_for_a_claim_taking_its_workers_cases(a_and_b, pg_url):
    a, b = a_and_b
    write, inside, go = b._write, threading.Event(), threading.Event()

    def paused(fn, what):
        def held(execute):
            out = fn(execute)
            inside.set()
            assert go.wait(TIMEOUT)
            return out

        return write(held, what)

    b._write = paused
    taken: list = []
    claim = threading.Thread(target=lambda: taken.extend(b.claim("B", 111.0, 10.0, 5)))
    claim.start()
    assert inside.wait(TIMEOUT)  # B took "x" from A, not yet committed
    beat = threading.Thread(target=lambda: a.heartbeat("A", 111.0, 10.0))
    beat.start()
    assert _waiting_on_a_lock(pg_url)  # A's renewal waits for B's claim
    go.set()
    claim.join(TIMEOUT)
    beat.join(TIMEOUT)
    assert [j.id for j in taken] == ["x"]
    assert a.lease_owners(["x"]) == {"x": "B"}  # what A, lapsed, reads next


@pytest.mark.postgres
def test_a_claim_leaves_the_cases_of_a_worker_that_renewed_after_its_pick(a_and_b):
    a, b = a_and_b
    write = b._write

    def renewed_after_the_pick(fn, what):
        def run(execute):
            def spied(sql, params):
                cur = execute(sql, params)
                if sql.startswith("SELECT id, lease_owner, lease_expires"):
                    a.heartbeat("A", 111.0, 10.0)  # commits: B locks no lease yet
                return cur

            return fn(spied)

        return write(run, what)

    b._write = renewed_after_the_pick
    assert b.claim("B", now=111.0, lease_seconds=10.0, limit=5) == []
    assert a.lease_owners(["x"]) == {"x": "A"}
    assert a.leases_held(111.0) == [("A", 1, 121.0)]


def test_a_lease_edited_by_hand_into_no_time_holds_its_case_for_no_one(make_sql_store):
    store = make_sql_store()
    store.create(rec("a"))
    # SQLite keeps a text where a number was written by hand and orders it after every
    # number; PostgreSQL's NaN is after every number too: neither is ever "< now".
    edited = "'NaN'" if isinstance(store, PostgresStore) else "'soon'"
    make_sql_store.raw(
        f"UPDATE jobs SET lease_owner = 'ghost', lease_expires = {edited} WHERE id = 'a'"
    )
    assert store.unclaimed(120.0) == {("order", 1): 1}
    [job] = store.claim("w1", now=120.0, lease_seconds=10.0, limit=5)
    assert job.id == "a"
    assert job.taken_over is True
    assert store.leases_held(120.0) == [("w1", 1, 130.0)]


def test_a_worker_row_edited_by_hand_into_no_time_holds_no_case(make_sql_store):
    store = make_sql_store()
    store.create(rec("a"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)
    # Its row orders after every time: its cases would stay held with no worker to run them.
    edited = "'NaN'" if isinstance(store, PostgresStore) else "'soon'"
    make_sql_store.raw(f"UPDATE workers SET expires = {edited} WHERE owner = 'w1'")
    assert store.unclaimed(120.0) == {("order", 1): 1}
    assert store.leases_held(120.0) == []
    [job] = store.claim("w2", now=120.0, lease_seconds=10.0, limit=5)
    assert job.id == "a"
    assert job.taken_over is True


def test_a_claim_renews_its_own_row_edited_by_hand_into_no_time(make_sql_store):
    store = make_sql_store()
    for name in "ab":
        store.create(rec(name))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)
    edited = "'NaN'" if isinstance(store, PostgresStore) else "'soon'"
    make_sql_store.raw(f"UPDATE workers SET expires = {edited} WHERE owner = 'w1'")
    assert len(store.claim("w1", now=101.0, lease_seconds=10.0, limit=5)) == 2
    assert store.leases_held(101.0) == [("w1", 2, 111.0)]


def test_a_renewal_over_its_row_edited_into_no_time_takes_it_for_no_twin(make_sql_store, caplog):
    store = make_sql_store()
    store.create(rec("a"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)
    store.heartbeat("w1", now=101.0, lease_seconds=10.0)
    # No worker writes a lease past HELD (a century at most), nor NaN: an edit by hand.
    edited = "'NaN'" if isinstance(store, PostgresStore) else "1e300"
    make_sql_store.raw(f"UPDATE workers SET expires = {edited} WHERE owner = 'w1'")
    store.heartbeat("w1", now=102.0, lease_seconds=10.0)
    assert "another process renews" not in caplog.text
    assert store.leases_held(102.0) == [("w1", 1, 112.0)]
