import sqlite3
import subprocess
import sys
import threading

import pytest
from bounds import TIMEOUT
from records import record

from actors import JobState, StoreError
from actors.stores import MemoryStore, SqliteStore, open_store
from actors.stores._schema import MIGRATIONS, current_version, migrate
from actors.stores._statements import HELD

rec = record


@pytest.fixture
def db(tmp_path):
    store = SqliteStore(tmp_path / "jobs.db")
    yield store
    store.close()


# -- URLs -----------------------------------------------------------------------------------------


def test_open_store_relative_and_absolute_sqlite_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rel = open_store("sqlite:///rel.db")
    assert isinstance(rel, SqliteStore)
    assert rel.path == "rel.db"
    assert rel.url == "sqlite:///rel.db"
    rel.close()
    assert (tmp_path / "rel.db").exists()
    absolute = tmp_path / "sub"
    absolute.mkdir()
    url = f"sqlite:///{absolute}/abs.db"  # four slashes: the path is absolute
    assert url.startswith("sqlite:////")
    store = open_store(url)
    assert store.path == f"{absolute}/abs.db"
    store.close()
    assert (absolute / "abs.db").exists()


def test_open_store_passes_options(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/o.db", retain=5, busy_timeout=1.5)
    assert store.retain == 5
    store.close()
    assert isinstance(open_store("memory://", retain=2), MemoryStore)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", r"unknown store URL scheme 'mysql'.*accepted forms: memory://"),
        ("jobs.db", r"'jobs.db' is not a store URL; accepted forms"),
        ("memory://somewhere", r"memory:// takes no path"),
        ("sqlite://host/jobs.db", r"names a host.*three slashes"),
        ("sqlite:///", r"names no database file"),
        ("sqlite:///:memory:", r"names no database file.*memory://"),
        ("sqlite:///x.db?mode=ro", r"takes no query or fragment.*open_store takes them"),
        ("sqlite:////no/such/dir/jobs.db", r"directory '/no/such/dir' does not exist"),
        (" sqlite:///jobs.db", r"^' sqlite:///jobs.db' begins with white space: remove it"),
        ("\npostgresql://u:pw@h/db", r"^'\\npostgresql://u:\*\*\*@h/db' begins with white"),
        (42, r"a store URL must be a string, got 42"),
    ],
)
def test_bad_urls_are_clear_store_errors(url, message):
    with pytest.raises(StoreError, match=message):
        open_store(url)


@pytest.mark.parametrize("name", ["jobs.db ", "jobs.db\n", " jobs.db", "jobs.db\t"])
def test_a_file_name_with_stray_white_space_is_refused_creating_nothing(tmp_path, name):
    """A trailing space or newline made a second, empty database beside the real one."""
    (tmp_path / "jobs.db").touch()
    with pytest.raises(StoreError, match=r"begins or ends with white space.*nothing was created"):
        open_store(f"sqlite:///{tmp_path}/{name}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.db"]
    (tmp_path / name).touch()  # a file that has such a name opens
    open_store(f"sqlite:///{tmp_path}/{name}").close()


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(StoreError, match=r"cannot .* SQLite store at .*notes\.db.*not a database"):
        SqliteStore(path)


@pytest.mark.parametrize("read_only", [False, True])
def test_a_path_that_is_a_directory(tmp_path, read_only):
    # SQLite said only "unable to open database file"; a read-only open, "no database".
    with pytest.raises(StoreError, match=r"cannot open the SQLite store at .*: it is a directory"):
        SqliteStore(tmp_path, read_only=read_only)


def test_in_memory_sqlite_is_refused():
    with pytest.raises(StoreError, match="in-memory SQLite database would differ per thread"):
        SqliteStore(":memory:")


# -- connection setup and schema ------------------------------------------------------------------


def test_wal_normal_sync_and_busy_timeout(db):
    conn = db._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_one_connection_per_thread(db):
    mine = db._conn()
    assert db._conn() is mine
    seen = []
    th = threading.Thread(target=lambda: seen.append(db._conn()))
    th.start()
    th.join()
    assert seen[0] is not mine


def test_migrate_is_idempotent_and_recorded(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert current_version(conn) == 0
    assert migrate(conn) == MIGRATIONS[-1].version
    assert migrate(conn) == MIGRATIONS[-1].version
    rows = conn.execute("SELECT version, description FROM schema_version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "step_history", "schema_version"} <= tables
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"jobs_claim", "jobs_due", "jobs_free_served"} <= indexes
    conn.close()


def test_concurrent_opens_migrate_once(tmp_path):
    path = tmp_path / "race.db"
    stores, errors = [], []
    start = threading.Barrier(6)

    def open_it():
        try:
            start.wait(timeout=TIMEOUT)
            stores.append(SqliteStore(path))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=2 * TIMEOUT)
    assert not errors
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
    for store in stores:
        store.close()


def test_closed_store_refuses_use(db):
    db.create(rec("a"))
    db.close()
    with pytest.raises(StoreError, match="is closed"):
        db.load("a")


def test_two_stores_on_one_file_see_each_others_writes(tmp_path):
    one, two = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    one.create(rec("a"))
    assert two.load("a").data == {"n": 1}
    job = two.load("a")
    job.state = JobState.DONE
    two.save(job)
    assert one.get("a").state is JobState.DONE
    one.close()
    two.close()


def test_a_second_writer_waits_for_the_lock_then_succeeds(tmp_path):
    store = SqliteStore(tmp_path / "w.db", busy_timeout=5.0)
    store.create(rec("a"))
    blocker = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    done = threading.Event()

    def save():
        job = rec("a", state=JobState.RUNNING)
        store.save(job)
        done.set()

    th = threading.Thread(target=save)
    th.start()
    assert not done.wait(0.2)  # held off by the other writer's lock
    blocker.execute("COMMIT")
    assert done.wait(TIMEOUT)
    th.join()
    assert store.get("a").state is JobState.RUNNING
    blocker.close()
    store.close()


def test_busy_timeout_expiry_is_a_store_error(tmp_path):
    store = SqliteStore(tmp_path / "b.db", busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(
        StoreError, match=r"cannot create job a: OperationalError: database is locked"
    ):
        store.create(rec("a"))
    blocker.execute("ROLLBACK")
    blocker.close()
    store.create(rec("a"))  # the store recovers
    store.close()


# -- rows -----------------------------------------------------------------------------------------


def test_step_history_is_appended_on_every_save(db):
    job = rec("h")
    db.create(job)
    job.state = JobState.RUNNING
    for step in ("b", "c"):
        job.step = step
        db.save(job)
    job.state = JobState.DONE
    db.save(job)
    history = db.history("h")
    assert [(s, a, st) for s, a, st, _ in history] == [
        ("a", 1, "ready"),
        ("b", 1, "running"),
        ("c", 1, "running"),
        ("c", 1, "done"),
    ]
    assert all(history[i][3] <= history[i + 1][3] for i in range(3))
    db.delete("h")
    assert db.history("h") == []


def test_the_fast_save_path_keeps_indexed_columns_right(db):
    conn = db._conn()

    def row():
        return conn.execute(
            "SELECT state, due, finished_at IS NOT NULL, lease_owner, lease_expires "
            "FROM jobs WHERE id = 'f'"
        ).fetchone()

    db.create(rec("f"))
    [job] = db.claim("w1", now=10.0, lease_seconds=5.0, limit=1)
    assert row() == ("ready", None, 0, "w1", HELD)
    job.step, job.state = "b", JobState.RUNNING
    db.save(job)
    assert row() == ("running", None, 0, "w1", HELD)  # a step's save keeps the case held
    job.state, job.due = JobState.WAITING, 99.0
    db.save(job)
    assert row() == ("waiting", 99.0, 0, "w1", HELD)  # parked, still the owner's case
    job.state, job.due = JobState.DONE, None
    db.save(job)
    # The case ended: its lease expires no more, and the stamp stays to fence others out.
    assert row() == ("done", None, 1, "w1", None)


def test_sqlite_specific_garbage_in_typed_columns(db):
    db.create(rec("g"))
    db._conn().execute("UPDATE jobs SET version = 'abc', attempt = 2.5 WHERE id = 'g'")
    job = db.load("g")
    assert job.state is JobState.FAULTED
    assert "column version holds 'abc' (expected an integer >= 1)" in job.error
    assert "column attempt holds 2.5" in job.error


def test_retention_prunes_history_too(tmp_path):
    store = SqliteStore(tmp_path / "r.db", retain=1)
    for job_id in ("x", "y"):
        job = rec(job_id)
        store.create(job)
        job.state = JobState.DONE
        store.save(job)
    assert store.get("x") is None
    assert store.history("x") == []
    assert len(store.history("y")) == 2
    store.close()


def test_prune_on_demand(db):
    for i in range(5):
        job = rec(f"p{i}", state=JobState.DONE)
        db.create(job)
    assert db.prune(2) == 3
    assert db.counts()[JobState.DONE] == 2
    assert db.prune() == 0  # no retain configured: keeps everything


def test_a_bad_row_is_returned_faulted_even_when_marking_it_fails(db, monkeypatch, caplog):
    db.create(rec("z"))
    db._conn().execute("UPDATE jobs SET data = '{oops' WHERE id = 'z'")

    def refuse(fn, what):
        raise StoreError(f"cannot {what}: disk full")

    monkeypatch.setattr(db, "_write", refuse)
    job = db.load("z")
    assert job.state is JobState.FAULTED
    assert "not valid JSON" in job.error
    assert "could not save job z as FAULTED" in caplog.text


@pytest.mark.parametrize(
    "options",
    [{"commit": "step"}, {"commit": "group"}, {"commit": "group", "writer": "process"}],
    ids=["step", "group", "process"],
)
@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_a_store_whose_file_is_gone_writes_nothing_more(tmp_path, options, how):
    # SQLite keeps writing to the file it has open, deleted or not: every save would be
    # lost with it, and a file put in its place would never be seen. Each write looks first.
    path = tmp_path / "jobs.db"
    store = SqliteStore(path, **options)
    try:
        store.create(rec("a"))
        (tmp_path / "old").mkdir()
        for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
            if (tmp_path / name).exists():
                (tmp_path / name).rename(tmp_path / "old" / name)
        if how == "replaced":
            SqliteStore(path).close()  # a new, empty database at the same path
        job = store.load("a")
        job.state = JobState.DONE
        with pytest.raises(StoreError, match=r"jobs\.db' was removed or replaced"):
            store.save(job)
        with pytest.raises(StoreError, match=r"jobs\.db' was removed or replaced"):
            store.create(rec("b"))
    finally:
        store.close()
    moved = SqliteStore(tmp_path / "old" / "jobs.db")
    try:
        assert moved.get("a").state is JobState.READY  # as last saved, in the file it had
        assert moved.get("b") is None
    finally:
        moved.close()


OTHER_PROCESS = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("CREATE TABLE other (y)")
conn.execute("INSERT INTO other VALUES (7)")
"""

READ_OTHER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
print(conn.execute("SELECT y FROM other").fetchall())
print(conn.execute("PRAGMA integrity_check").fetchall())
"""


@pytest.mark.parametrize(
    "options",
    [{"commit": "step"}, {"commit": "group"}, {"commit": "group", "writer": "process"}],
    ids=["step", "group", "process"],
)
def test_a_store_whose_wal_was_deleted_writes_nothing_more_and_keeps_the_others_commits(
    tmp_path, options
):
    # Deleted under it, SQLite goes on committing to the -wal it has open, where no other
    # process reads, while the others make a new one; and its close checkpointed its old
    # log into the file and deleted the new one, with what the others had committed there.
    path = tmp_path / "jobs.db"
    store = SqliteStore(path, **options)
    try:
        store.create(rec("a"))
        for name in ("jobs.db-wal", "jobs.db-shm"):
            (tmp_path / name).unlink()
        subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(path)], check=True)
        job = store.load("a")
        job.state = JobState.DONE
        with pytest.raises(StoreError, match=r"-wal or -shm file beside .*jobs\.db' was removed"):
            store.save(job)
    finally:
        store.close()
    seen = subprocess.run(
        [sys.executable, "-c", READ_OTHER, str(path)], check=True, capture_output=True, text=True
    )
    assert seen.stdout.split() == ["[(7,)]", "[('ok',)]"]
