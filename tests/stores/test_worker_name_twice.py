"""Two live processes under one worker name are named at a lease renewal.

Both renew the one row of the name in ``workers`` and run the same cases, with nothing to
fence one from the other; a case whose event the other one took waited for good. Each
store remembers the expiry it wrote last: a renewal that finds another one there logs
an ERROR naming the worker, once. A restart under the name (the process before it gone)
is no such thing, and says nothing.
"""

from __future__ import annotations

import logging
from functools import partial

import pytest
from records import record

from actors import StoreError

rec = partial(record, workflow="order", step="reserve")


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_two_live_processes_under_one_name_are_told_at_a_renewal(make_sql_store, caplog):
    first, second = make_sql_store(), make_sql_store()  # two processes, one database
    first.create(rec("a"))
    first.claim("w", now=100.0, lease_seconds=10.0, limit=1)
    with caplog.at_level(logging.INFO, logger="actors.stores"):
        second.claim("w", now=100.2, lease_seconds=10.0, limit=1, reclaim=True)  # a copy
        first.heartbeat("w", now=101.0, lease_seconds=10.0)
        [said] = errors(caplog)
        assert "another process renews the lease of worker 'w'" in said
        assert "start each under a name of its own" in said
        second.heartbeat("w", now=101.5, lease_seconds=10.0)  # it finds the first's too
        assert len(errors(caplog)) == 2
        for now in (102.0, 103.0):  # once each, not at every renewal
            first.heartbeat("w", now=now, lease_seconds=10.0)
            second.heartbeat("w", now=now + 0.5, lease_seconds=10.0)
    assert len(errors(caplog)) == 2


def test_a_restart_under_the_same_name_says_nothing(make_sql_store, caplog):
    before = make_sql_store()
    before.create(rec("a"))
    before.claim("w", now=100.0, lease_seconds=10.0, limit=1)
    before.heartbeat("w", now=101.0, lease_seconds=10.0)
    before.close()  # the process is gone (it died: nothing was released)
    after = make_sql_store()
    with caplog.at_level(logging.INFO, logger="actors.stores"):
        [job] = after.claim("w", now=102.0, lease_seconds=10.0, limit=1, reclaim=True)
        assert job.id == "a"
        for now in (103.0, 104.0, 105.0):
            after.heartbeat("w", now=now, lease_seconds=10.0)
    assert errors(caplog) == []


def test_a_renewal_that_failed_at_its_commit_is_not_taken_for_another_process(
    make_sql_store, caplog
):
    store = make_sql_store()
    store.heartbeat("w", now=100.0, lease_seconds=10.0)
    write = store._write

    def committed_then_lost(fn, what):  # the connection lost as the commit went through
        write(fn, what)
        raise StoreError(f"{store.url}: cannot {what}: server closed the connection")

    store._write = committed_then_lost
    with pytest.raises(StoreError):
        store.heartbeat("w", now=101.0, lease_seconds=10.0)
    del store._write
    with caplog.at_level(logging.INFO, logger="actors.stores"):
        for now in (102.0, 103.0):
            store.heartbeat("w", now=now, lease_seconds=10.0)
    assert errors(caplog) == []


def test_a_restore_under_a_running_worker_is_named_as_one(make_sql_store, caplog):
    store = make_sql_store()
    store.create(rec("a"))
    store.claim("w", now=100.0, lease_seconds=10.0, limit=1)
    store.heartbeat("w", now=101.0, lease_seconds=10.0)
    # The database put back to a copy taken at 100.5, the worker still running on it.
    make_sql_store.raw("UPDATE workers SET expires = ? WHERE owner = ?", (110.5, "w"))
    with caplog.at_level(logging.INFO, logger="actors.stores"):
        store.heartbeat("w", now=102.0, lease_seconds=10.0)
        store.heartbeat("w", now=103.0, lease_seconds=10.0)
    [said] = errors(caplog)
    assert "worker 'w'" in said and "put back to an earlier copy (a restore)" in said
    assert "restart this worker" in said
