"""``jobs cancel --timeout`` keeps its timeout against a worker frozen with SIGSTOP.

On SQLite and PostgreSQL: a real worker process holds case h-1 (its step never ends)
and is frozen: its lease stays live, so the cancel is handed to it as a request. Frozen,
it never takes the request, or it took it just before the freeze and never says what it
did, or it froze in the middle of a write and holds the case's rows (SQLite: the write
lock). In each, the command ends with exit status 4 within its timeout and a small
margin, and says what became of the cancel. A command killed while it waits (SIGKILL)
cannot withdraw its request: the worker, thawed after the command's timeout, never
carries it out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from cli_support import case_rows_locked, one_error_line, write_module
from click.testing import CliRunner

from actors import JobState, enqueue
from actors._cli import main
from actors._job import JobRecord
from actors.stores import open_store

pytestmark = pytest.mark.slow

WAIT = 3.0  # the --timeout given
# What the command may take past it (its reads and writes, a loaded machine): below
# WAIT, so the waits this file guards against (twice the timeout; the 10 s lock limit)
# still fail it.
MARGIN = 2.5

HELD = """
    import pathlib, threading
    from actors import Sequential, Workflow

    def hold(data):
        pathlib.Path(data["entered"]).touch()
        threading.Event().wait()  # never ends: the worker holds the case until it is killed

    FLOW = Workflow("held", start="hold", steps=[Sequential("hold", hold)])
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'held.db'}"
    return str(request.getfixturevalue("pg_database")("actors_cancel_frozen"))


@pytest.fixture
def frozen_worker(frozen_process: tuple[str, str, Any]) -> tuple[str, str]:
    """(store URL, worker name): a worker process holding case h-1, frozen inside its step."""
    return frozen_process[:2]


@pytest.fixture
def frozen_process(
    tmp_path: Path, store_url: str, workdir: Path
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """``frozen_worker`` and its process (to thaw it with SIGCONT)."""
    url = store_url
    module = write_module(workdir, HELD)
    entered = tmp_path / "entered"
    sys.path.insert(0, str(workdir))
    enqueue(url, __import__(module).FLOW, {"entered": str(entered)}, job_id="h-1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), *sys.path])}
    command = [sys.executable, "-m", "actors", "worker", "--store", url, "--workflows", module,
               "--name", "frozen", "--lease-seconds", "60", "--poll-interval", "0.1"]  # fmt: skip
    worker = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until(entered.exists, "the worker to enter the step")
        worker.send_signal(signal.SIGSTOP)
        yield url, "frozen", worker
    finally:
        worker.send_signal(signal.SIGCONT)
        worker.kill()
        worker.wait(TIMEOUT)


def _cancel(runner: CliRunner, url: str) -> tuple[Any, float]:
    return _timed(runner, ["jobs", "cancel", "h-1", "--store", url])


def _timed(runner: CliRunner, args: list[str]) -> tuple[Any, float]:
    """The command's result with ``--timeout WAIT``, and how long it took."""
    started = time.monotonic()
    result = runner.invoke(main, [*args, "--timeout", f"{WAIT:g}"])
    return result, time.monotonic() - started


def _still_running(url: str) -> None:
    store = open_store(url, read_only=True)
    try:
        job = store.get("h-1")
        assert job is not None and job.state is JobState.READY  # as claimed; nothing changed
    finally:
        store.close()


def test_a_cancel_the_frozen_worker_never_takes_is_withdrawn_at_the_timeout(
    runner: CliRunner, frozen_worker: tuple[str, str]
) -> None:
    url, _ = frozen_worker
    result, took = _cancel(runner, url)
    assert result.exit_code == 4, result.output
    assert f"did not take the cancel within {WAIT:g}s; nothing was changed" in one_error_line(
        result
    )
    assert took < WAIT + MARGIN
    _still_running(url)


def test_a_cancel_the_worker_took_before_it_froze_is_said_to_be_unconfirmed(
    runner: CliRunner, frozen_worker: tuple[str, str]
) -> None:
    url, name = frozen_worker
    store = open_store(url)
    taken = threading.Event()

    def take() -> None:  # what the worker's poll did just before the freeze
        wait_until(lambda: store.take_requests(name, time.time()), "the request to be posted")
        taken.set()

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    try:
        result, took = _cancel(runner, url)
    finally:
        taker.join(TIMEOUT)
        store.close()
    assert taken.is_set()
    assert result.exit_code == 4, result.output
    line = one_error_line(result)
    assert "the cancel of case h-1 was requested and worker 'frozen' took it" in line
    assert f"has not confirmed it within {WAIT:g}s: it may still be carried out" in line
    assert took < WAIT + MARGIN


def test_a_cancel_waits_for_a_lock_the_frozen_worker_holds_no_longer_than_the_timeout(
    runner: CliRunner, frozen_worker: tuple[str, str]
) -> None:
    url, _ = frozen_worker
    with case_rows_locked(url, "h-1"):
        result, took = _cancel(runner, url)
    assert result.exit_code == 4, result.output
    line = one_error_line(result)
    assert f"case h-1 stayed locked for {WAIT:g}s by another transaction" in line
    assert "(worker 'frozen', which holds the case," in line
    assert "nothing was changed" in line
    assert took < WAIT + MARGIN
    _still_running(url)


def test_a_retry_waits_for_a_lock_the_frozen_worker_holds_no_longer_than_its_timeout(
    runner: CliRunner, frozen_worker: tuple[str, str]
) -> None:
    """It waited SQLite's 10 s lock limit and exited 1 with a bare "database is locked"."""
    url, _ = frozen_worker
    store = open_store(url)
    try:  # a case that faulted before: no worker holds it
        store.create(JobRecord("f-1", "f-1", "held", 1, "hold", {}, JobState.FAULTED, error="x"))
    finally:
        store.close()
    with case_rows_locked(url, "f-1"):  # SQLite: any write holds the database
        result, took = _timed(runner, ["jobs", "retry", "f-1", "--store", url])
    assert result.exit_code == 4, result.output
    line = one_error_line(result)
    assert f"case f-1 stayed locked for {WAIT:g}s by another transaction" in line
    assert "(a worker in the middle of a write, or frozen in one)" in line
    assert "nothing was changed" in line
    assert took < WAIT + MARGIN
    store = open_store(url, read_only=True)
    try:
        job = store.get("f-1")
        assert job is not None and job.state is JobState.FAULTED
    finally:
        store.close()


def test_a_cancel_whose_command_was_killed_is_never_carried_out_by_the_worker_thawed_later(
    frozen_process: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    """The worker took the request left behind and cancelled the job when it came back."""
    url, _, worker = frozen_process
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "actors", "jobs", "cancel", "h-1", "--store", url,
               "--timeout", "1"]  # fmt: skip
    sender = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    store = open_store(url)
    try:
        wait_until(lambda: store.get_request(1) is not None, "the cancel to be posted")
        sender.kill()  # as a closed terminal: no withdrawal
        sender.wait(TIMEOUT)
        request = store.get_request(1)
        assert request is not None and request.taken_by is None
        void_after = request.void_after
        assert void_after is not None
        wait_until(
            lambda: store.lease_time(time.time()) > void_after, "the command's wait to be over"
        )
        worker.send_signal(signal.SIGCONT)
        wait_until(lambda: store.get_request(1).outcome is not None, "the worker to come to it")
        assert store.get_request(1).outcome == "expired"
        [entry] = [row for row in store.step_history("h-1") if row.action]
        assert entry.action == "cancel (expired, by worker)"
    finally:
        store.close()
    store = open_store(url, read_only=True)
    try:
        job = store.load("h-1")  # as claimed, no cancel marked on it
        assert job is not None and job.state is JobState.READY and not job.cancel_requested
    finally:
        store.close()
