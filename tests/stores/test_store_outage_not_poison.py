"""A database that cannot be reached for a few saves in a row faults no job.

With ``commit="step"`` (or ``"slice"``) a runner stores its saves itself, and one that
fails kills the runner: its job resumes from its last save on another. Three deaths in a
row at one step fault a job, to stop one that kills every runner it meets; a connection
lost three times while one job ran its step counted the same, and ended the job
``FAULTED`` ("3 runners in a row died ... StoreError: ... terminating connection"),
where the group writer runs such a job again. A lost connection says nothing of the job:
it runs again once the store answers. A row the database refuses still counts.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, Sequential, Workflow
from actors._job import JobRecord
from actors.stores import SqliteStore
from actors.stores._postgres import PostgresStore


def _flow() -> Workflow:
    def note(data: dict) -> None:
        data["ran"] = data.get("ran", 0) + 1

    steps = [Sequential("a", note, next="b"), Sequential("b", note)]
    return Workflow("two", steps, start="a")


def _failing(base: type, error: Exception) -> type:
    class Failing(base):  # type: ignore[misc, valid-type]
        """Saving the job at step 'b' fails ``times`` times (``error``, as the store wraps it)."""

        times = 5
        failed = 0
        _guard = threading.Lock()

        def save(self, job: JobRecord) -> None:
            if job.step == "b":
                with self._guard:
                    if self.failed < self.times:
                        self.failed += 1
                        raise self._error(f"save job {job.id}", error)
            super().save(job)

    return Failing


def _lost(kind: str) -> Exception:
    if kind == "sqlite":
        return sqlite3.OperationalError("database is locked")
    import psycopg

    return psycopg.OperationalError("terminating connection due to administrator command")


def _refused(kind: str) -> Exception:
    if kind == "sqlite":
        return sqlite3.IntegrityError("CHECK constraint failed")
    import psycopg

    return psycopg.DataError("value too long for type character varying(8)")


def _store(make_sql_store, error: Exception, commit: str):
    kind = make_sql_store.kind
    base = SqliteStore if kind == "sqlite" else PostgresStore
    where = make_sql_store.path if kind == "sqlite" else make_sql_store.url
    store = _failing(base, error)(where, commit=commit)
    make_sql_store.made.append(store)
    return store


# A job whose save found the store down waits for the next poll that finds it answering;
# polls a tenth of a second apart, not the default second, let five outages go by fast.
POLL = 0.1


@pytest.mark.parametrize("commit", ["step", "slice"])
def test_saves_failing_on_a_lost_connection_fault_no_job(make_sql_store, commit):
    store = _store(make_sql_store, _lost(make_sql_store.kind), commit)
    with Mediator([_flow()], runners=1, store=store, poll_interval=POLL) as mediator:
        job = mediator.schedule("two", {}).result(timeout=TIMEOUT)
    assert store.failed == store.times  # five runners died of it, one after the other
    assert job.state is JobState.DONE, job.error
    assert job.data["ran"] == 2


def test_a_row_the_database_refuses_still_faults_its_job(make_sql_store):
    store = _store(make_sql_store, _refused(make_sql_store.kind), "step")
    with Mediator([_flow()], runners=1, store=store) as mediator:
        job = mediator.schedule("two", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert "3 runners in a row died" in (job.error or "")
