"""SqliteStore(writer="process"): group transactions run in a child process.

What a group stores is the same as with the writer thread (the test_group_*.py files run
all their tests on both). Here: the option's checks, and the child's life: it survives SQLite
errors and the signals a terminal sends, a group it dies in is not stored and the next
group starts a new one, and closing the store ends it.
"""

import logging
import os
import signal
import sqlite3
import threading
from functools import partial

import pytest
from bounds import TIMEOUT, wait_until
from records import record

from actors import StoreError
from actors._job import JobRecord
from actors.stores import SqliteStore, _writer_stall, open_store

rec = partial(record, data={})


@pytest.fixture
def path(tmp_path):
    return tmp_path / "jobs.db"


@pytest.fixture
def store(path):
    store = SqliteStore(path, commit="group", writer="process")
    yield store
    store.close()


def stored_step(path, job_id: str) -> str | None:
    """The step a job's row holds, read on a connection of its own (committed state only)."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT step FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def save_in_a_slice(store: SqliteStore, job: JobRecord, step: str) -> None:
    """Save ``job`` at ``step`` in one slice; return once it is stored (or raise why not)."""
    store.begin_slice()
    job.step = step
    store.save(job)
    store.end_slice()


def child(store: SqliteStore):
    process = store._process
    assert process is not None
    assert process._proc is not None
    return process._proc


def test_the_writer_option_is_checked(path):
    with pytest.raises(ValueError, match="writer must be 'thread' or 'process', got 'fork'"):
        SqliteStore(path, commit="group", writer="fork")
    with pytest.raises(ValueError, match="needs commit='group', not 'step'"):
        SqliteStore(path, commit="step", writer="process")
    store = open_store(f"sqlite:///{path}", writer="process")  # group: the default
    try:
        assert (store.commit, store.writer) == ("group", "process")
    finally:
        store.close()


def test_groups_are_stored_by_a_child_process(store, path):
    proc = child(store)  # started with the store, so that it is ready for the first group
    assert proc.poll() is None
    job = rec("j1")
    store.create(job)
    save_in_a_slice(store, job, "b")
    assert stored_step(path, "j1") == "b"
    assert child(store) is proc
    assert proc.pid != os.getpid()
    assert proc.poll() is None  # it stays, for the next group
    save_in_a_slice(store, job, "c")
    assert child(store) is proc
    assert stored_step(path, "j1") == "c"


def test_a_sqlite_error_fails_the_group_and_the_child_goes_on(path):
    store = SqliteStore(path, commit="group", writer="process", busy_timeout=0.2)
    try:
        job = rec("j1")
        store.create(job)
        save_in_a_slice(store, job, "b")
        proc = child(store)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the file past the timeout
        try:
            with pytest.raises(StoreError, match=r"cannot store a group .*database is locked"):
                save_in_a_slice(store, job, "c")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert stored_step(path, "j1") == "b"
        save_in_a_slice(store, job, "d")
        assert stored_step(path, "j1") == "d"
        assert child(store) is proc
    finally:
        store.close()


def test_a_group_the_child_dies_in_is_not_stored_and_the_next_starts_a_new_child(store, path):
    job = rec("j1")
    store.create(job)
    save_in_a_slice(store, job, "b")
    proc = child(store)
    proc.kill()
    proc.wait(TIMEOUT)
    with pytest.raises(StoreError, match="the SQLite writer process exited"):
        save_in_a_slice(store, job, "c")
    assert stored_step(path, "j1") == "b"
    save_in_a_slice(store, job, "d")
    assert stored_step(path, "j1") == "d"
    assert child(store).pid != proc.pid


def test_the_child_ignores_the_signals_a_terminal_sends_to_the_process_group(store, path):
    # Ctrl-C or a service manager's SIGTERM reach every process of the group; the worker
    # stops gracefully and needs its writer for that, so the child must not die of them.
    job = rec("j1")
    store.create(job)
    save_in_a_slice(store, job, "b")
    proc = child(store)
    for sig in (signal.SIGINT, signal.SIGTERM):
        os.kill(proc.pid, sig)  # an ignored signal is dropped as it is sent
    save_in_a_slice(store, job, "c")
    assert stored_step(path, "j1") == "c"
    assert child(store) is proc
    assert proc.poll() is None


def test_closing_a_store_that_stored_nothing_ends_its_child(path):
    store = SqliteStore(path, commit="group", writer="process")
    proc = child(store)
    store.close()
    assert proc.wait(TIMEOUT) == 0


def test_closing_the_store_ends_the_child(path):
    store = SqliteStore(path, commit="group", writer="process")
    job = rec("j1")
    store.create(job)
    save_in_a_slice(store, job, "b")
    proc = child(store)
    store.close()
    assert proc.wait(TIMEOUT) == 0
    assert store._process is None


def test_a_closed_writer_process_starts_no_new_child(path):
    # A slice that reaches the writer as the store closes must not start a child that
    # nobody would stop.
    from actors.stores._sqlite_process import RemoteError, WriterProcess, encode_group

    SqliteStore(path).close()  # the schema
    process = WriterProcess(str(path), 1.0, "NORMAL")
    proc = process.start()
    process.close()
    assert proc.wait(TIMEOUT) == 0
    with pytest.raises(RemoteError, match="the store is closed"):
        process.send(encode_group(None, []))
    assert process._proc is None


def test_a_frozen_writer_process_is_said_and_its_answer_waited_for(
    store, path, caplog, monkeypatch
):
    """Frozen (SIGSTOP), it held the worker's saves without a word, its leases renewed."""
    monkeypatch.setattr(_writer_stall, "STALL_AFTER", 0.2)
    caplog.set_level(logging.INFO, logger="actors.stores")
    job = rec("j1")
    store.create(job)
    save_in_a_slice(store, job, "b")
    proc = child(store)
    proc.send_signal(signal.SIGSTOP)
    saver = threading.Thread(target=save_in_a_slice, args=(store, job, "c"))
    try:
        saver.start()
        wait_until(lambda: "has not answered for" in caplog.text, "the stall to be said")
        assert saver.is_alive()  # its save waits for the child
    finally:
        proc.send_signal(signal.SIGCONT)
    saver.join(TIMEOUT)
    assert not saver.is_alive()
    assert stored_step(path, "j1") == "c"
    said = [r.getMessage() for r in caplog.records if r.name == "actors.stores"]
    assert (
        f"the SQLite writer process (pid {proc.pid}) of {str(path)!r} has not answered" in said[0]
    )
    assert f"the SQLite writer process (pid {proc.pid}) answered again, after" in said[1]
