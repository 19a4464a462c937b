"""Workers whose machines' clocks disagree share a PostgreSQL store's leases safely.

Real ``actors worker`` processes, one of them with its ``time.time`` moved two minutes
ahead of or behind the others (a ``sitecustomize`` module, as a machine whose clock is
off). A worker measured leases by its own clock: one ahead took every other worker's
live cases at its first claim, and the others took every case of one behind at theirs,
so the steps in flight there ran twice. Leases go by the database server's clock: the
cases stay with the live worker that holds them, are taken over once it is killed and
its lease has run out, and the skewed worker says how far its clock is off. Timers are
stored by the server's clock too: one a worker armed fires on time on the worker that
takes its case over, whichever of the two clocks is off.
"""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, enqueue
from actors.stores import open_store

MODULE = """
from actors import Sequential, Wait, Workflow


def done(data):
    data["done"] = True


NAP = Workflow("nap", [Wait("nap", duration=3600, next="done"), Sequential("done", done)],
               start="nap")
SNOOZE = Workflow("snooze", [Wait("nap", duration=6, next="done"), Sequential("done", done)],
                  start="nap")
"""

# Imported by every Python process that has the test's directory on its path.
SKEW = """
import os
import time

_offset = float(os.environ.get("SKEW_SECONDS", "0"))
if _offset:
    _time, _time_ns = time.time, time.time_ns
    time.time = lambda: _time() + _offset
    time.time_ns = lambda: _time_ns() + int(_offset * 1e9)
"""


def start(
    where: Path, url: str, name: str, skew: float, lease: float = 4.0, poll: float = 0.5
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SKEW_SECONDS": str(skew), "PYTHONPATH": str(where)}
    options = ["--name", name, "--lease-seconds", str(lease), "--poll-interval", str(poll)]
    with (where / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "actors",
                "worker",
                "--store",
                url,
                "--workflows",
                "napflow",
                *options,
            ],
            cwd=where,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def log_of(where: Path, name: str) -> str:
    path = where / f"{name}.log"
    return path.read_text() if path.exists() else ""


def holders(url: str, ids: list[str]) -> set[str | None]:
    """The workers stamped on the cases, once every one is parked at its Wait."""
    store = open_store(url, read_only=True)
    try:
        parked = all((j := store.get(i)) is not None and j.state is JobState.WAITING for i in ids)
        return set(store.lease_owners(ids).values()) if parked else set()
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize(("first", "second"), [(0.0, 120.0), (-120.0, 0.0)])
def test_a_skewed_clock_neither_takes_live_cases_nor_loses_its_own(
    pg_database, tmp_path: Path, first: float, second: float
) -> None:
    url = pg_database(f"actors_skew_{int(first)}_{int(second)}".replace("-", "m"))
    (tmp_path / "napflow.py").write_text(MODULE, encoding="utf-8")
    nap = runpy.run_path(str(tmp_path / "napflow.py"))["NAP"]  # the workers' own workflow
    (tmp_path / "sitecustomize.py").write_text(SKEW, encoding="utf-8")
    workers = [start(tmp_path, url, "first", first)]
    try:
        wait_until(lambda: "worker started" in log_of(tmp_path, "first"), "the first worker")
        ids = [enqueue(url, nap, {}, job_id=f"nap-{i}") for i in range(3)]
        wait_until(lambda: holders(url, ids) == {"first"}, "the first worker to park the cases")
        workers.append(start(tmp_path, url, "second", second))
        # Its start claims (and before leases went by the server's clock, took them).
        wait_until(lambda: "worker started" in log_of(tmp_path, "second"), "the second worker")
        logs = log_of(tmp_path, "first") + log_of(tmp_path, "second")
        assert holders(url, ids) == {"first"}, logs
        way = "ahead of" if first + second > 0 else "behind"
        assert f"this machine's clock is 120.0 s {way} the clock of the database server" in logs
        workers[0].send_signal(signal.SIGKILL)  # nothing released: its lease runs out
        workers[0].wait(timeout=TIMEOUT)
        wait_until(lambda: holders(url, ids) == {"second"}, "the second worker to take over")
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=TIMEOUT)


SHORT_LEASES = {"lease": 1.0, "poll": 0.25}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize(("first", "second"), [(120.0, 0.0), (0.0, 120.0)])
def test_a_timer_armed_on_one_clock_fires_on_time_on_another(
    pg_database, tmp_path: Path, first: float, second: float
) -> None:
    # Stored by the arming worker's clock, it fired 2 minutes late on the second (first
    # ahead) or as soon as the second took the case (second ahead). Short leases (the
    # first is killed, no live worker is ever taken from) bring that takeover to about
    # a second after the kill plus the second's start, well before the timer is due.
    url = pg_database(f"actors_timer_{int(first)}_{int(second)}")
    (tmp_path / "napflow.py").write_text(MODULE, encoding="utf-8")
    snooze = runpy.run_path(str(tmp_path / "napflow.py"))["SNOOZE"]
    (tmp_path / "sitecustomize.py").write_text(SKEW, encoding="utf-8")
    workers = [start(tmp_path, url, "first", first, **SHORT_LEASES)]
    try:
        wait_until(lambda: "worker started" in log_of(tmp_path, "first"), "the first worker")
        [case] = [enqueue(url, snooze, {}, job_id="snooze")]
        wait_until(lambda: holders(url, [case]) == {"first"}, "the first worker to park it")
        armed = time.monotonic()  # within a poll of its arming: it is due 6 s from then
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=TIMEOUT)
        workers.append(start(tmp_path, url, "second", second, **SHORT_LEASES))
        store = open_store(url, read_only=True)
        try:
            wait_until(lambda: store.get(case).state is JobState.DONE, "the timer to fire")
        finally:
            store.close()
        took = time.monotonic() - armed
        logs = log_of(tmp_path, "first") + log_of(tmp_path, "second")
        assert took >= 6.0 - 1.0, (took, logs)  # not early (a second: the clocks' tolerance)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=TIMEOUT)
