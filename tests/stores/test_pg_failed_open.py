"""A PostgreSQL store that fails to open leaves no thread of its own running.

Each open arms the thread that cuts connections held past their bound; a long-lived
process retrying its open against a store it refuses (a schema from a newer release)
gained one such thread per try.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from bounds import TIMEOUT

from actors._errors import SchemaTooNewError
from actors.stores import open_store
from actors.stores._schema import MIGRATIONS

pytestmark = pytest.mark.postgres


def _deadline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "actors-pg-deadlines"]


def test_a_store_refused_at_its_read_only_open_stops_its_deadline_thread(fresh_pg_url: str) -> None:
    open_store(fresh_pg_url).close()  # migrated
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at, breaks_older) "
            "VALUES (%s, 'a newer release''s', 0, 1)",
            (MIGRATIONS[-1].version + 1,),
        )
    before = set(_deadline_threads())
    for _ in range(3):
        with pytest.raises(SchemaTooNewError):
            open_store(fresh_pg_url, read_only=True)
    for thread in set(_deadline_threads()) - before:
        thread.join(TIMEOUT)
    assert set(_deadline_threads()) - before == set()
