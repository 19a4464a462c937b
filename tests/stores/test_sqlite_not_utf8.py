"""A SQLite text column holding bytes that are not UTF-8 (another program's write).

SQLite keeps any bytes in a text column; Python's driver failed every statement that
read such a row, so one damaged row stopped a worker's claims of every case, and the
operator's listings. The row now reads FAULTED naming the column, and the rest go on.
"""

import sqlite3

import pytest
from bounds import TIMEOUT
from records import record

from actors import JobState, Mediator, Sequential, Workflow
from actors.admin import Admin
from actors.stores import SqliteStore

# Text columns a job row is read from, each given bytes that are not UTF-8.
COLUMNS = [
    ("step", "column step holds bytes that are not UTF-8: 'a\\\\xff'"),
    ("workflow", "column workflow holds bytes that are not UTF-8"),
    ("state", "column state holds bytes that are not UTF-8"),
    ("error", "column error holds bytes that are not UTF-8"),
    ("split_step", "column split_step holds bytes that are not UTF-8"),
    ("data", "cannot decode data of job bad: stored text holds bytes that are not UTF-8"),
    ("event", "cannot decode event of job bad: stored text holds bytes that are not UTF-8"),
    ("arrivals", "cannot decode arrivals of job bad: stored text holds bytes"),
]


def _damage(path, column, job_id="bad"):
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(f"UPDATE jobs SET {column} = CAST(X'61ff' AS TEXT) WHERE id = ?", (job_id,))


@pytest.fixture
def path(tmp_path):
    return tmp_path / "jobs.db"


@pytest.mark.parametrize(("column", "named"), COLUMNS)
def test_a_claim_takes_every_other_case_and_faults_the_damaged_row(path, column, named):
    store = SqliteStore(path)
    try:
        for job_id in ("bad", "good-1", "good-2"):
            store.create(record(job_id))
        _damage(path, column)
        claimed = {job.id: job for job in store.claim("w1", 1.0, 30.0, limit=10)}
        assert {"good-1", "good-2"} <= set(claimed)
        assert all(claimed[g].state is JobState.READY for g in ("good-1", "good-2"))
        bad = store.get("bad")
        assert bad is not None
        assert bad.state is JobState.FAULTED
        assert "stored job row is unreadable" in bad.error
        assert named in bad.error
        with sqlite3.connect(path) as conn:
            conn.text_factory = bytes
            [(stored,)] = conn.execute(f"SELECT {column} FROM jobs WHERE id = 'bad'").fetchall()
        if column not in ("state", "error"):  # left as it was (those say it is FAULTED)
            assert stored == b"a\xff"
    finally:
        store.close()


def test_an_operator_lists_and_shows_the_damaged_row(path):
    store = SqliteStore(path)
    try:
        store.create(record("bad"))
        store.create(record("good"))
    finally:
        store.close()
    _damage(path, "step")
    _damage(path, "case_id")
    with Admin(f"sqlite:///{path}") as admin:
        listed = {job.id: job for job in admin.jobs().items}
        assert set(listed) == {"bad", "good"}
        assert listed["bad"].state is JobState.FAULTED
        assert "column step holds bytes that are not UTF-8" in (listed["bad"].error or "")
        assert admin.job("bad").state is JobState.FAULTED
        # Its case id cannot be looked up as stored: the tree shows the job alone.
        tree = admin.case("bad")
        assert tree.root.job.id == "bad"
        assert admin.job("good").state is JobState.READY


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("step = CAST(X'61ff' AS TEXT)", "column step holds bytes that are not UTF-8"),
        # Any unreadable row whose step is no step: its reason is the one to keep.
        ("data = '{broken', step = 'gone'", "cannot decode data of job bad"),
    ],
)
def test_a_worker_runs_the_others_and_keeps_the_reason_it_faulted_the_row(path, damage, named):
    flow = Workflow("w", start="a", steps=[Sequential("a", lambda data: None)])
    store = SqliteStore(path)
    try:
        store.create(record("bad"))
    finally:
        store.close()
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(f"UPDATE jobs SET {damage} WHERE id = 'bad'")
    with Mediator([flow], store=f"sqlite:///{path}") as mediator:
        done = mediator.schedule("w", {"n": 2}).result(timeout=TIMEOUT)
    assert done.state is JobState.DONE
    with Admin(f"sqlite:///{path}") as admin:
        bad = admin.job("bad")
    assert bad.state is JobState.FAULTED
    # Its step is not looked up once it ended: "cannot resume ... no step" replaced this.
    assert (bad.error or "").startswith("stored job row is unreadable")
    assert named in (bad.error or "")
