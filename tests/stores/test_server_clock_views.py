"""The operator's views tell a live worker's case by the database server's clock too.

Workers write their leases by the server's clock (see test_server_clock.py). An
operator's machine whose clock is two minutes ahead read those leases by its own: the
case tree said "held by no live worker" and the dashboard counted the case as waiting
for a worker, while a worker held it. Both read the leases by the server's clock.
"""

from __future__ import annotations

import time
from functools import partial

import pytest
from records import record

from actors.admin import Admin
from actors.stores._postgres import PostgresStore
from actors.ui._reads import Reader

pytestmark = pytest.mark.postgres

rec = partial(record, workflow="order", step="reserve")


def test_a_case_a_live_worker_holds_shows_held_from_a_machine_ahead(fresh_pg_url, monkeypatch):
    worker, operator = PostgresStore(fresh_pg_url), PostgresStore(fresh_pg_url)
    try:
        worker.create(rec("a"))
        worker.claim("w", now=time.time(), lease_seconds=30.0, limit=1)  # held for 30 s
        # The operator's machine: its clock runs two minutes ahead, as its store read.
        ahead = time.time
        monkeypatch.setattr(time, "time", lambda: ahead() + 120.0)
        operator._server_clock.offset = -120.0
        assert Admin(operator).case("a").held_by == "w"
        assert Reader(operator).unheld_counts(time.time()) == {}
    finally:
        monkeypatch.undo()
        worker.close()
        operator.close()
