"""A worker on PostgreSQL carries on by itself after the database was unreachable.

The outage is made on the session's throwaway server, for the test's own database only:
its backends are terminated (as a restart does) and it refuses new connections
(``ALLOW_CONNECTIONS false``) until the test lets it take them again, so every store
call fails meanwhile, the pool's reconnection attempts included. The worker's runners
are inside a step when it starts, so the saves of what they ran fail, and so do the
reloads of those jobs: the worker must keep them and take them back once the database
answers, and finish every case itself.
"""

import logging
import threading

import psycopg
import pytest
from bounds import TIMEOUT, wait_until
from pg_outage import database_accepts
from psycopg.conninfo import conninfo_to_dict

from actors import JobState, Mediator, Sequential, Workflow
from actors.stores._postgres import PostgresStore

pytestmark = pytest.mark.postgres

CASES = 4


class _Seen(logging.Handler):
    """Sets an event when a record of the ``actors`` logger contains ``text``."""

    def __init__(self, text: str, level: int) -> None:
        super().__init__(level)
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.message = record.getMessage()
            self.event.set()


def _flow(entered: threading.Barrier, release: threading.Event, runs: list[str]) -> Workflow:
    lock = threading.Lock()

    def first(data):
        with lock:
            runs.append("first")
            waits = runs.count("first") <= CASES
        if waits:  # the first run of each case holds its runner while the database goes
            entered.wait(TIMEOUT)
            assert release.wait(TIMEOUT)

    def second(data):
        with lock:
            runs.append("second")
        return {**data, "done": True}

    return Workflow(
        "two",
        start="first",
        steps=[Sequential("first", first, next="second"), Sequential("second", second)],
    )


@pytest.mark.parametrize("commit", ["step", "group"])
def test_a_worker_resumes_its_cases_after_the_database_was_unreachable(
    pg_server, fresh_pg_url, commit, caplog
):
    name = conninfo_to_dict(fresh_pg_url)["dbname"]
    unreachable = _Seen("cannot be reached", logging.WARNING)
    reachable = _Seen("is reachable again", logging.INFO)
    engine_log = logging.getLogger("actors")
    level_before = engine_log.level
    engine_log.setLevel(logging.DEBUG)
    for handler in (unreachable, reachable):
        engine_log.addHandler(handler)
    entered, release, runs = threading.Barrier(CASES + 1), threading.Event(), []
    # timeout: how long a store call waits for a connection (the default, 10 s, would
    # only make the test slower: every call fails the same way while the database is shut).
    store = PostgresStore(fresh_pg_url, commit=commit, timeout=1.0, min_size=2)
    listening = _Seen(f"listening for new cases on {store.url} again", logging.DEBUG)
    mediator = Mediator(
        [_flow(entered, release, runs)],
        runners=CASES,
        store=store,
        owner="w1",
        poll_interval=0.2,
        lease_seconds=15.0,
    )
    try:
        handles = [mediator.schedule("two", {"i": i}) for i in range(CASES)]
        entered.wait(TIMEOUT)  # every runner is inside "first"
        engine_log.addHandler(listening)
        caplog.set_level(logging.INFO)
        caplog.clear()  # what the worker says from the outage on
        database_accepts(pg_server, name, accepts=False)
        release.set()  # their saves fail, and so do the reloads of their jobs
        wait_until(
            lambda: unreachable.event.is_set() or not mediator.scheduler.is_alive(),
            "the worker to notice that the database is unreachable",
        )
        assert mediator.scheduler.is_alive(), "the Scheduler died of the store's failure"
        database_accepts(pg_server, name, accepts=True)
        jobs = [handle.result(timeout=TIMEOUT) for handle in handles]
        assert reachable.event.wait(TIMEOUT)
        # Its listener is back too (its connection was ended with the others).
        assert listening.event.wait(TIMEOUT)
        said = [  # what an operator sees of the engine's (and its actor library's) lines
            (record.levelname, record.getMessage())
            for record in caplog.records
            if record.levelno >= logging.INFO and record.name.split(".")[0] in ("actors", "pykka")
        ]
    finally:
        release.set()
        database_accepts(pg_server, name, accepts=True)
        mediator.shutdown(drain=False)
        for handler in (unreachable, reachable, listening):
            engine_log.removeHandler(handler)
        engine_log.setLevel(level_before)
    assert [(job.state, job.data) for job in jobs] == [
        (JobState.DONE, {"i": i, "done": True}) for i in range(CASES)
    ]
    # At least once: a step whose save was lost ran again; none was skipped.
    assert runs.count("second") >= CASES
    assert runs.count("first") >= CASES
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        rows = conn.execute("SELECT state, lease_expires FROM jobs").fetchall()
    assert rows == [("done", None)] * CASES
    # One WARNING as the outage starts and one INFO as it ends, whatever the jobs in
    # flight: not a line per job whose slice was lost (ERROR) and another as it resumed
    # (WARNING), nor an ERROR per group the writer could not store, nor pykka's ERROR for
    # each runner whose save failed, nor the listener's own WARNING and INFO.
    assert said == [("WARNING", unreachable.message), ("INFO", reachable.message)]
    assert "tries again" in unreachable.message and "after" in reachable.message
