"""What a SQLite file refuses is said with its cause: a lock held, a read-only file, a full disk.

SQLite says only "database is locked", "attempt to write a readonly database" or
"database or disk is full": an operator reading a worker's warning or an ``enqueue``
error could not tell another program's long transaction from the worker's own, nor which
file system filled. Each refusal keeps what was stored before, and the store goes on
once the cause is gone.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from records import record

from actors import StoreError
from actors.stores import SqliteStore
from actors.stores._sqlite_connect import cannot_open_hint, refused_hint


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "jobs.db", busy_timeout=0.05)
    store.create(record("kept"))
    yield store
    store.close()


def _refused(store: SqliteStore, job_id: str, data: object = None) -> str:
    with pytest.raises(StoreError) as caught:
        store.create(record(job_id, data={"n": 1} if data is None else data))
    return str(caught.value)


def test_a_lock_held_too_long_names_the_file_and_the_busy_timeout(store, tmp_path):
    blocker = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        said = _refused(store, "a")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "cannot create job a: OperationalError: database is locked" in said
    path = re.escape(repr(store.path))
    assert re.search(
        f"another connection held the write lock of {path} for longer than the store's "
        r"busy_timeout of 0\.05 s",
        said,
    )
    blocker = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:  # a worker's renewal says what it could not do in the words the guides use
        with pytest.raises(StoreError, match=r"cannot renew the leases of 'w1': .*is locked"):
            store.heartbeat("w1", 100.0, 15.0)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.create(record("a"))  # the lock released, the store goes on
    assert store.get("kept") is not None


def test_a_full_disk_names_the_file_system_and_keeps_what_was_stored(store, tmp_path):
    conn = store._conn()  # SQLite's own limit on the file's size: a disk full at its size
    [(pages,)] = conn.execute("PRAGMA page_count").fetchall()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    said = _refused(store, "big", {"pad": "x" * 200_000})
    assert "database or disk is full" in said
    assert f"the file system that holds {str(tmp_path)!r} is full; what was stored is kept" in said
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.get("kept") is not None and store.get("big") is None
    store.create(record("big", data={"pad": "x" * 200_000}))


def test_a_read_only_file_names_the_file_and_where_to_look(store):
    store._conn().execute("PRAGMA query_only = 1")  # refused as a read-only file's writes are
    said = _refused(store, "a")
    assert "attempt to write a readonly database" in said
    assert f"this process may not write {store.path!r}: the file, or its directory" in said
    assert store.get("a") is None


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ("database is locked", "held the write lock of '/d/jobs.db' for longer than"),
        ("database table is locked", "held the write lock of '/d/jobs.db'"),
        ("attempt to write a readonly database", "may not write '/d/jobs.db'"),
        ("database or disk is full", "the file system that holds '/d' is full"),
        ("no such table: jobs", ""),
    ],
)
def test_a_writer_process_s_refusal_is_explained_by_its_message(message, named):
    # The writer process reports SQLite's error as its text alone, with no result code.
    hint = refused_hint("/d/jobs.db", message, 10.0)
    assert named in hint
    assert bool(hint) == bool(named)


class _Statvfs:
    def __init__(self, free: int) -> None:
        self.f_bavail = free


@pytest.mark.parametrize(("free", "named"), [(0, True), (100, False)])
def test_an_open_that_meets_a_full_disk_says_so_not_only_disk_i_o_error(
    tmp_path, monkeypatch, free, named
):
    # SQLite cannot make the -shm file it opens a WAL database with, and says only
    # "disk I/O error" (SQLITE_IOERR_SHMSIZE), which reads as a failing disk.
    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode = 4874
    monkeypatch.setattr("os.statvfs", lambda path: _Statvfs(free))
    hint = cannot_open_hint(str(tmp_path / "jobs.db"), error)
    said = f"the file system that holds {str(tmp_path)!r} is full: SQLite could not make"
    assert (said in hint) is named


@pytest.mark.parametrize(("limit", "named"), [(1_000_000, True), (None, False)])
def test_a_disk_i_o_error_names_the_process_s_file_size_limit_when_it_has_one(
    monkeypatch, limit, named
):
    from actors.stores import _sqlite_connect

    monkeypatch.setattr(_sqlite_connect, "_file_size_limit", lambda: limit)
    hint = refused_hint("/d/jobs.db", "disk I/O error", 10.0)
    assert ("may write files of at most 1,000,000 bytes (ulimit -f)" in hint) is named
    assert bool(hint) is named  # no limit: a disk I/O error has too many causes to name one


def test_a_write_past_the_file_size_limit_is_said_as_such(tmp_path):
    # A real limit, in a process of its own: the write fails with EFBIG, which SQLite
    # reports as a bare "disk I/O error".
    script = (
        "import resource, sys\n"
        "from actors import StoreError\n"
        "from actors.stores import SqliteStore\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from records import record\n"
        "store = SqliteStore(sys.argv[1], commit='step')\n"
        "store.create(record('kept'))\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))\n"
        "try:\n"
        "    store.create(record('big', data={'pad': 'x' * 2_000_000}))\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
        "print(store.get('kept') is not None, store.get('big') is None)\n"
    )
    tests = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "jobs.db"), str(tests)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)])},
    )
    said, kept = done.stdout.splitlines()
    assert "disk I/O error" in said
    assert "may write files of at most 300,000 bytes (ulimit -f)" in said
    assert kept == "True True"
