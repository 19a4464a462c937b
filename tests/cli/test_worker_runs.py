"""``actors worker`` running: in-process with a signal, and as a real subprocess.

Nothing sleeps: tests wait on events, on a job's handle or on the subprocess's log
lines, each with a timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from cli_support import FLOWS, write_module
from click.testing import CliRunner
from records import record

import actors._cli as cli
from actors import (
    JobState,
    Mediator,
)
from actors._cli import main
from actors.stores import MemoryStore, open_store
from actors.testing import VirtualClock

RESUMABLE = """
    import threading
    from actors import Sequential, Wait, Workflow

    ran = threading.Event()

    def work(data):
        data["worked"] = True
        ran.set()

    FLOW = Workflow("resumable", [Wait("nap", 60, next="work"), Sequential("work", work)],
                    start="nap")
"""


def test_worker_resumes_saved_jobs_and_stops_on_sigterm(
    runner: CliRunner, workdir: Path, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job parked by an earlier process runs in the worker; SIGTERM then stops it cleanly."""
    import importlib

    name = write_module(workdir, RESUMABLE)
    sys.path.insert(0, str(workdir))
    module = importlib.import_module(name)
    store = MemoryStore()
    earlier = Mediator([module.FLOW], runners=1, store=store, clock=clock)
    earlier.schedule("resumable", {}, job_id="r-1")
    earlier.shutdown(drain=True)  # parked on its 60 s wait, in a clock that never moves
    assert store.get("r-1").state is JobState.WAITING  # type: ignore[union-attr]
    # The worker "opens" this memory store for its sqlite URL (it refuses memory:// itself).
    monkeypatch.setattr(cli, "open_store", lambda url, **options: store)

    def stop_when_the_job_ran() -> None:
        assert module.ran.wait(TIMEOUT), "the worker never ran the resumed job"
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_the_job_ran)
    killer.start()
    result = runner.invoke(
        main, ["worker", "--store", "sqlite:///jobs.db", "--workflows", name, "--runners", "1"]
    )
    killer.join(TIMEOUT)
    assert result.exit_code == 0, result.output
    assert "1 unfinished job(s) in the store" in result.stderr
    assert "SIGTERM received" in result.stderr
    assert "worker stopped" in result.stderr
    job = store.get("r-1")
    assert job is not None
    assert job.state is JobState.DONE
    assert job.data == {"worked": True}
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def invoke_worker_then(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    act: Callable[[], None],
) -> Any:
    """Run ``actors worker args`` here; ``act()`` on a thread once it says it started.

    A worker still running ``TIMEOUT`` after that gets a SIGTERM, so a test of a worker
    that should have stopped by itself fails on its assertions instead of hanging.
    """
    started, exited = threading.Event(), threading.Event()

    class Started(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("worker started"):
                started.set()

    def then() -> None:
        if started.wait(TIMEOUT):
            act()
        if not exited.wait(TIMEOUT):
            os.kill(os.getpid(), signal.SIGTERM)

    cli_log = logging.getLogger("actors.cli")
    monkeypatch.setattr(cli_log, "handlers", [*cli_log.handlers, Started()])
    thread = threading.Thread(target=then)
    thread.start()
    try:
        result = runner.invoke(main, ["worker", *args])
    finally:
        exited.set()
        thread.join(TIMEOUT)
    assert started.is_set(), result.output
    return result


@pytest.mark.parametrize("ignored", [False, True])
def test_a_hangup_stops_the_worker_cleanly_unless_it_ignores_hangups(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch, ignored: bool
) -> None:
    """The terminal closing (SIGHUP) stops the worker as SIGTERM does; nohup's is ignored.

    It killed the worker, as a crash does, leaving its cases leased.
    """
    name = write_module(workdir, FLOWS)
    seen: list[Any] = []

    def hang_up() -> None:
        seen.append(signal.getsignal(signal.SIGHUP))
        os.kill(os.getpid(), signal.SIGHUP)
        if ignored:  # the worker runs on: stop it as usual
            os.kill(os.getpid(), signal.SIGTERM)

    def untouched(signum: int, frame: Any) -> None:  # not the process's death, if not replaced
        pass

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN if ignored else untouched)
    try:
        args = ["--store", "sqlite:///jobs.db", "--workflows", name]
        result = invoke_worker_then(runner, monkeypatch, args, hang_up)
        after = signal.getsignal(signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, before)
    assert result.exit_code == 0, result.output
    assert "worker stopped" in result.stderr
    if ignored:
        assert seen == [signal.SIG_IGN]
        assert "SIGTERM received" in result.stderr
        assert after is signal.SIG_IGN
    else:
        assert "SIGHUP received" in result.stderr
        assert after is untouched  # restored


COUNTED = """
    import threading
    from actors import Sequential, Workflow

    seen = []
    all_ran = threading.Event()

    def count(data):
        seen.append(data["order"])
        if len(seen) == 12:
            all_ran.set()

    FLOW = Workflow("counted", [Sequential("count", count)], start="count")
"""


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_cases_enqueued_from_the_shell_are_run_by_a_worker(
    runner: CliRunner, workdir: Path, writer: str
) -> None:
    import importlib

    name = write_module(workdir, COUNTED)
    url = f"sqlite:///{workdir / 'shared.db'}"
    orders = "".join(json.dumps({"order": n}) + "\n" for n in range(12))
    enqueued = runner.invoke(
        main,
        [
            *("enqueue", "counted", "--store", url, "--workflows", name, "--file", "-"),
            *("--id-field", "order", "--batch", "5"),
        ],
        input=orders,
    )
    assert enqueued.exit_code == 0, enqueued.output
    assert enqueued.stdout.split() == [str(n) for n in range(12)]
    module = importlib.import_module(name)  # the worker below imports the same module

    def stop_when_all_ran() -> None:
        assert module.all_ran.wait(TIMEOUT), f"the worker ran {len(module.seen)} of 12"
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_all_ran)
    killer.start()
    worked = runner.invoke(
        main,
        ["worker", "--store", url, "--workflows", name, "--commit", "group", "--writer", writer],
    )
    killer.join(TIMEOUT)
    assert worked.exit_code == 0, worked.output
    assert sorted(module.seen) == list(range(12))
    store = open_store(url)
    try:
        assert store.counts()[JobState.DONE] == 12
    finally:
        store.close()


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str]) -> None:
    while True:
        try:
            line = lines.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no line with {text!r} within {TIMEOUT}s; got {seen}")
        seen.append(line)
        if text in line:
            return


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_process_runs_until_a_signal(tmp_path: Path, signum: int) -> None:
    name = write_module(tmp_path, FLOWS)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "actors",
            "worker",
            "--store",
            f"sqlite:///{tmp_path / 'jobs.db'}",
            "--workflows",
            name,
            "--runners",
            "2",
            "--capacity",
            "5",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        _wait_for(lines, "worker started", seen)
        assert "first v1, second v2" in seen[-1]
        assert "2 runner(s)" in seen[-1]
        proc.send_signal(signum)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    reader.join(TIMEOUT)
    while not lines.empty():
        seen.append(lines.get())
    log = "".join(seen)
    assert f"{signal.Signals(signum).name} received" in log
    assert "worker stopped" in log
    assert "Traceback" not in log
    assert proc.stdout is not None
    assert proc.stdout.read() == ""
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()


def test_a_worker_under_timeout_stops_cleanly_on_its_doubled_sigterm(tmp_path: Path) -> None:
    """``timeout`` sends SIGTERM to the worker, then to its process group: one request.

    Taken as a second signal, it made the worker exit at once (status 143), its cases
    left leased: another worker could take them only once their leases ran out.
    """
    name = write_module(tmp_path, RESUMABLE)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    try:
        store.create(record("nap-1", workflow="resumable", step="nap", data={}))
    finally:
        store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "actors", "worker", "--store", url, "--workflows", name],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as under timeout
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    seen: list[str] = []
    try:
        _wait_for(lines, "worker started", seen)  # the case taken, parked on its Wait
        os.kill(proc.pid, signal.SIGTERM)  # what timeout does, in this order
        # The group's copy once the first has been handled (so it is not merged into the
        # first, as a signal pending twice is): what a busy machine made of timeout's two.
        _wait_for(lines, "SIGTERM received", seen)
        with contextlib.suppress(ProcessLookupError):  # the worker may have exited already
            os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    assert proc.stderr is not None
    proc.stderr.close()
    store = open_store(url)
    try:
        stored = store.stored_job("nap-1")
    finally:
        store.close()
    assert stored is not None
    assert stored.lease_expires is None  # released for the other workers at once


def test_a_worker_whose_engine_died_says_why_and_exits(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error the Scheduler does not handle is logged, and the worker exits with status 1.

    It used to idle on: alive, holding its leases, running nothing and logging nothing
    (only pykka logged the error, to a logger nobody listened to).
    """
    import pykka

    from actors import messages as m
    from actors._scheduler import Scheduler

    def broken(self: Any, message: Any) -> None:
        raise RuntimeError("a bug in the engine")

    monkeypatch.setattr(Scheduler, "_on_wake", broken)  # the handler the test calls below
    name = write_module(workdir, FLOWS)
    store = MemoryStore()
    monkeypatch.setattr(cli, "open_store", lambda url, **options: store)

    def break_the_engine() -> None:
        pykka.ActorRegistry.get_by_class(Scheduler)[0].tell(m.Wake())

    args = ["--store", "sqlite:///jobs.db", "--workflows", name]
    result = invoke_worker_then(runner, monkeypatch, args, break_the_engine)
    assert result.exit_code == 1, result.output
    assert "ERROR actors: the engine stopped on an error it did not handle" in result.stderr
    assert "RuntimeError: a bug in the engine" in result.stderr
    assert "the engine stopped on an error (logged above)" in result.stderr


def test_a_worker_exits_when_a_newer_release_migrates_the_store_past_it(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A breaking migration applied under a running worker: status 1, the migration named."""
    import sqlite3

    from actors.stores._schema import MIGRATIONS

    name = write_module(workdir, FLOWS)

    def migrate_past() -> None:
        with sqlite3.connect(workdir / "jobs.db") as conn:
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at, "
                "breaks_older) VALUES (?, 'arrivals kept elsewhere', 0, 1)",
                (MIGRATIONS[-1].version + 1,),
            )

    args = ["--store", "sqlite:///jobs.db", "--workflows", name, "--poll-interval", "0.05"]
    result = invoke_worker_then(runner, monkeypatch, args, migrate_past)
    assert result.exit_code == 1, result.output
    assert f"its migration {MIGRATIONS[-1].version + 1} (arrivals kept elsewhere)" in (
        result.stderr
    )
    assert "this worker stops" in result.stderr
    assert "the engine stopped on an error (logged above)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_whose_sqlite_wal_was_deleted_exits_to_be_started_afresh(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its writes could never reach the file again: status 1, not an outage for ever.

    It logged once that the store "cannot be reached" and idled on, alive, so that no
    supervisor started it again, as the error itself asked.
    """
    name = write_module(workdir, FLOWS)

    def delete_the_wal() -> None:
        for end in ("-wal", "-shm"):
            (workdir / f"jobs.db{end}").unlink()

    args = ["--store", "sqlite:///jobs.db", "--workflows", name, "--poll-interval", "0.05"]
    result = invoke_worker_then(runner, monkeypatch, args, delete_the_wal)
    assert result.exit_code == 1, result.output
    assert "the -wal or -shm file beside" in result.stderr
    assert "this worker stops: its cases go to the next worker to claim them" in result.stderr
    assert "the engine stopped on an error (logged above)" in result.stderr
    assert "Traceback" not in result.stderr
    assert "SIGTERM received" not in result.stderr
