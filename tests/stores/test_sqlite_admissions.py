"""SQLite admissions: one statement each, all or nothing; the file checks a write makes first."""

import os
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest
from bounds import TIMEOUT
from records import record

from actors import JobExistsError, JobState, StoreError
from actors.stores import SqliteStore, _sqlite_file


@pytest.fixture
def store(tmp_path):
    db = SqliteStore(tmp_path / "jobs.db")
    yield db
    db.close()


def _traced(store):
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    return statements


def test_an_admission_is_one_statement_with_its_history_row(store):
    store.create(record("a"))  # the connection's first admission makes its view
    statements = _traced(store)
    store.create(record("b"))
    # No BEGIN, no COMMIT; the statement is traced again as each trigger step runs.
    [mine] = set(statements)
    assert mine.startswith("INSERT INTO temp.actors_admit VALUES ('b'")
    assert store.get("b").state is JobState.READY
    assert [row[2] for row in store.history("b")] == ["ready"]


def test_an_admission_of_a_taken_id_writes_nothing(store):
    store.create(record("a"))
    with pytest.raises(JobExistsError, match="'a' already exists"):
        store.create(record("a", step="other"))
    assert store.get("a").step == "a"
    assert len(store.history("a")) == 1


def test_an_admission_whose_history_row_fails_stores_no_job(store, tmp_path):
    store.create(record("a"))
    other = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON step_history "
        "BEGIN SELECT RAISE(ABORT, 'no history today'); END"
    )
    other.close()
    with pytest.raises(StoreError, match="no history today"):
        store.create(record("b"))
    assert store.get("b") is None


def test_an_admission_without_history_is_one_statement(tmp_path):
    store = SqliteStore(tmp_path / "jobs.db", history=False)
    try:
        store.create(record("a"))
        statements = _traced(store)
        store.create(record("b"))
        assert [s.split(" (")[0].strip() for s in statements] == ["INSERT INTO jobs"]
        with pytest.raises(JobExistsError):
            store.create(record("b"))
        assert store.get("b").state is JobState.READY
    finally:
        store.close()


def _file_stats(monkeypatch, path):
    """Count the ``stat`` calls on the store's file, its ``-wal`` and its ``-shm``."""
    calls = []
    real = os.stat

    def stat(target, *args, **kwargs):
        if os.fspath(target).startswith(os.fspath(path)):
            calls.append(target)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return calls


def _settle(folder):
    """Date the directory back, as if nothing had changed in it for a while."""
    past = time.time() - 60
    os.utime(folder, (past, past))


def test_writes_look_at_the_files_only_when_their_directory_changed(store, tmp_path, monkeypatch):
    store.create(record("a"))
    _settle(tmp_path)
    calls = _file_stats(monkeypatch, tmp_path / "jobs.db")
    store.create(record("b"))  # a full look, trusted from now on
    calls.clear()
    for name in "cde":
        store.create(record(name))
    assert calls == []
    (tmp_path / "unrelated.txt").write_text("x")  # the directory changed: look again
    store.create(record("f"))
    assert len(calls) == 3


def test_a_file_replaced_in_a_settled_directory_is_seen(store, tmp_path):
    store.create(record("a"))
    _settle(tmp_path)
    store.create(record("b"))  # the directory trusted
    (tmp_path / "jobs.db").rename(tmp_path / "moved.db")
    SqliteStore(tmp_path / "jobs.db").close()  # a new database at the same path
    with pytest.raises(StoreError, match=r"jobs\.db' was removed or replaced"):
        store.create(record("c"))


def test_a_recently_changed_directory_is_not_trusted(store, tmp_path, monkeypatch):
    # Every write as if the directory had changed just before it (within SETTLED).
    def clock() -> float:
        return os.stat(tmp_path).st_mtime + _sqlite_file.SETTLED / 2

    monkeypatch.setattr(_sqlite_file, "time", SimpleNamespace(time=clock))
    store.create(record("a"))
    calls = _file_stats(monkeypatch, tmp_path / "jobs.db")
    store.create(record("b"))
    store.create(record("c"))
    assert len(calls) == 6  # a change within the file system's clock tick could hide


def test_each_thread_s_connection_makes_its_own_full_look(store, tmp_path, monkeypatch):
    # Each thread's connection has the -wal and -shm files it opened: one thread's look
    # says nothing of another's (its files may be the ones replaced since).
    store.create(record("a"))
    _settle(tmp_path)
    store.create(record("b"))  # this thread's connection trusts the directory
    calls = _file_stats(monkeypatch, tmp_path / "jobs.db")
    store.create(record("c"))
    assert calls == []
    other = threading.Thread(target=lambda: store.create(record("d")))
    other.start()
    other.join(TIMEOUT)
    assert os.fspath(tmp_path / "jobs.db") in calls  # a full look (opening made the others)
    assert store.get("d") is not None


@pytest.mark.parametrize(
    ("fraction", "full_looks"), [(0.25, 0), (0.0, 2)], ids=["fine-clock", "whole-seconds"]
)
def test_a_directory_stamped_in_whole_seconds_is_trusted_later(
    store, tmp_path, monkeypatch, fraction, full_looks
):
    # A second old: trusted where stamps are finer, not where a later change within the
    # same second (or two, on FAT) would bear the same stamp.
    store.create(record("a"))
    stamp = int(time.time()) - 10 + fraction
    os.utime(tmp_path, ns=(int(stamp * 1e9), int(stamp * 1e9)))
    clock = SimpleNamespace(time=lambda: stamp + 1.0)
    monkeypatch.setattr(_sqlite_file, "time", clock)
    store.create(record("b"))  # a full look: trusted from now on, or not
    calls = _file_stats(monkeypatch, tmp_path / "jobs.db")
    store.create(record("c"))
    store.create(record("d"))
    assert calls.count(os.fspath(tmp_path / "jobs.db")) == full_looks
