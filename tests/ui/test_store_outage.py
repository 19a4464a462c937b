"""The dashboard over a PostgreSQL store whose database goes away, then comes back.

Every page read the store by waiting for a connection from its pool, which waits its
``timeout`` (10 s by default) while the database cannot be reached: a case's page took
10 s to say so, each refresh of each open page. The outage is made on the session's
throwaway server, for the test's own database only: its backends are terminated (as a
restart does) and it refuses new connections until the test lets it take them again.
"""

from __future__ import annotations

import logging
import time

import pytest
from bounds import wait_until
from pg_outage import database_accepts
from psycopg.conninfo import conninfo_to_dict
from starlette.testclient import TestClient

import dashboard  # examples/dashboard.py
from actors.stores import open_store
from actors.ui import create_app

pytestmark = pytest.mark.postgres

LOCAL = "http://127.0.0.1:8400"
NAME = "actors_ui_outage"
# How long the store's pool waits for a connection: a page that waited for it would
# take this long, where the pages answer in milliseconds (the one that starts a check of
# the store, in half a second). PROMPT lies far from both, for a loaded machine.
POOL_WAIT = 60.0
PROMPT = POOL_WAIT / 6


@pytest.fixture
def shipments_url(pg_server, pg_database):
    """A database of shipments, its URL with a password (the server trusts local users)."""
    url = pg_database(NAME)
    worker = dashboard.fill(url, done=1, faulted=0, waiting=1)
    worker.shutdown(drain=False)
    params = conninfo_to_dict(url)
    yield f"postgresql://{params['user']}:s3cr3t-pw@/{NAME}?host={params['host']}"
    database_accepts(pg_server, NAME, accepts=True)


def _timed(web: TestClient, path: str, **headers: str) -> tuple[int, str]:
    began = time.monotonic()
    answer = web.get(path, headers=headers)
    spent = time.monotonic() - began
    assert spent < PROMPT, f"{path} answered after {spent:.1f} s"
    return answer.status_code, answer.text


def test_pages_say_at_once_that_the_store_cannot_be_reached_and_recover_by_themselves(
    pg_server, shipments_url, caplog
):
    caplog.set_level(logging.INFO, logger="actors.ui")
    store = open_store(shipments_url, timeout=POOL_WAIT)
    shown = store.url  # the password masked
    assert "s3cr3t-pw" not in shown
    try:
        web = TestClient(create_app(store, dashboard.WORKFLOWS), base_url=LOCAL)
        assert _timed(web, "/cases/parcel-1")[0] == 200
        database_accepts(pg_server, NAME, accepts=False)
        pages = ["/cases/parcel-1", "/live/cases/parcel-1", "/", "/live/overview"]
        answers = {
            path: _timed(web, path, **({"HX-Request": "true"} if "live" in path else {}))
            for path in [*pages, "/workflows/shipment", "/cases/parcel-0", *pages]
        }
        for path, (status, text) in answers.items():
            assert status == 503, path
            assert f"The store cannot be read: {shown} has not answered since " in text, text
            assert "s3cr3t-pw" not in text
        database_accepts(pg_server, NAME, accepts=True)
        # The pages' own refreshes bring them back: nobody restarts anything.
        wait_until(
            lambda: _timed(web, "/live/cases/parcel-1", **{"HX-Request": "true"})[0] == 200,
            "the case's page to read the store again",
            every=0.1,
        )
        status, text = _timed(web, "/cases/parcel-1")
        assert status == 200 and 'id="case-state-value">waiting' in text
    finally:
        store.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "actors.ui"]
    assert sum("cannot be read" in line for line in logged if line.startswith("the store")) == 1
    assert any(line.startswith(f"the store {shown} answers again") for line in logged)
    assert not any("s3cr3t-pw" in line for line in logged)
