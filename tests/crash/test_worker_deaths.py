"""A step that ends its worker's process faults, instead of ending every worker for ever.

Real ``actors worker`` processes on one store. A case's branch calls ``os._exit`` in its
step: the worker that runs it dies with nothing saved, the next worker takes the case
over and dies the same way. Each run after a takeover is counted in the store first; the
first runs beside the other jobs, each later one alone, so the worker after the third
death alone ends the branch FAULTED instead of running it; that worker lives on, the case
ends, and the other cases are done. Once the step is
fixed, an operator's retry runs the branch again and the case ends. On SQLite each worker
has a new name (a takeover after the lease expires); on PostgreSQL each has the same
name (a restart under that name takes the cases back at once).
"""

from __future__ import annotations

import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, enqueue
from actors.stores import open_store

HERE = Path(__file__).resolve().parent
DIED = 7  # the exit status of a worker the bad step ended

MODULE = """
import os

from actors import ParallelSplit, Sequential, Synchronize, Workflow


def prepare(data):
    data["prepared"] = True


def explode(data):
    os._exit(7)  # the user's bug: ends the whole process, no exception, nothing saved


def calm(data):
    data["calm"] = True


def done(data):
    data["done"] = True


BOOM = Workflow(
    "boom",
    [
        Sequential("prepare", prepare, next="split"),
        ParallelSplit("split", branches=["explode", "calm"]),
        Sequential("explode", explode, next="join"),
        Sequential("calm", calm, next="join"),
        Synchronize("join", next="done"),
        Sequential("done", done),
    ],
    start="prepare",
)
FINE = Workflow("fine", [Sequential("done", done)], start="done")
"""


def start_worker(where: Path, url: str, name: str) -> subprocess.Popen[bytes]:
    with (where / f"{name}.log").open("ab") as log:  # read when an assertion fails
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "actors",
                "worker",
                "--store",
                url,
                "--workflows",
                "deathflow",
                "--name",
                name,
                "--lease-seconds",
                "1",
                "--poll-interval",
                "0.2",
            ],
            cwd=where,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def logs(where: Path) -> str:
    return "".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(where.glob("*.log")))


def ended(url: str, ids: list[str]) -> dict[str, JobState] | None:
    store = open_store(url)
    try:
        jobs = [store.get(i) for i in ids]
        if all(j is not None and j.state.is_final for j in jobs):
            return {j.id: j.state for j in jobs if j is not None}
        return None
    finally:
        store.close()


def run(where: Path, url: str, *, same_name: bool) -> None:
    module = where / "deathflow.py"
    module.write_text(MODULE, encoding="utf-8")
    flows = runpy.run_path(str(module))  # the workers' own workflows, to enqueue
    boom, fine = flows["BOOM"], flows["FINE"]
    case = enqueue(url, boom, {}, job_id="boom-1")
    others = [enqueue(url, fine, {}, job_id=f"fine-{i}") for i in range(3)]
    # The first worker runs the case from scratch; the next four take it over, each
    # counting a try before the branch's step, and die: the first of them beside the
    # other branch, the next three with the branch alone. The sixth faults the branch.
    for i in range(5):
        proc = start_worker(where, url, "w" if same_name else f"w{i}")
        try:
            died = proc.wait(timeout=TIMEOUT)
            assert died == DIED, f"worker {i} did not die of the step:\n{logs(where)}"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=TIMEOUT)
    states = serve_until_ended(where, url, "w" if same_name else "w5", [case, *others])
    assert states == {case: JobState.FAULTED, **dict.fromkeys(others, JobState.DONE)}
    store = open_store(url)
    try:
        jobs = [stored.record for stored in store.case_jobs(case)]
        branches = {j.branch_index: j for j in jobs if j.parent_id == case}
        bad = branches[0]  # "explode"
        assert bad.state is JobState.FAULTED
        assert "the last 4 workers to run it from step 'explode' (attempt 1) stopped" in (
            bad.error or ""
        )
        assert "the last 3 while it ran alone" in (bad.error or "")
        assert branches[1].state is JobState.DONE
        [root] = [j for j in jobs if j.id == case]
        assert "explode" in (root.error or "")  # the case names its failed branch
    finally:
        store.close()
    # The step fixed, an operator retries the case: the faulted branch runs again, with
    # a fresh count, and the case ends.
    module.write_text(MODULE.replace("os._exit(7)", "data['exploded'] = False"), "utf-8")
    retried = subprocess.run(
        [sys.executable, "-m", "actors", "jobs", "retry", case, "--store", url],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert retried.returncode == 0, retried.stderr
    states = serve_until_ended(where, url, "w" if same_name else "w6", [case])
    assert states == {case: JobState.DONE}


def serve_until_ended(where: Path, url: str, name: str, ids: list[str]) -> dict[str, JobState]:
    """Run a worker until the cases ``ids`` end (it must live); stop it; their states."""
    worker = start_worker(where, url, name)
    try:
        deadline = time.monotonic() + TIMEOUT
        states = None
        while states is None:
            assert worker.poll() is None, f"worker {name} died:\n{logs(where)}"
            assert time.monotonic() < deadline, f"the cases never ended:\n{logs(where)}"
            time.sleep(0.1)  # polling a database from outside; nothing to wait on
            states = ended(url, ids)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=TIMEOUT) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=TIMEOUT)
    return states


@pytest.mark.slow
def test_sqlite_workers_stop_running_a_step_that_kills_them(tmp_path: Path) -> None:
    run(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}", same_name=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_workers_restarted_by_name_stop_running_a_step_that_kills_them(
    pg_database, tmp_path: Path
) -> None:
    run(tmp_path, pg_database("actors_deaths"), same_name=True)


# An innocent case whose step outlasts the workers, beside fresh cases whose step ends
# the process: a worker's own cases must not start beside a job that runs alone.
INNOCENT = """
import os
import threading
from pathlib import Path

from actors import Sequential, Workflow

HERE = Path(__file__).resolve().parent


def long(data):
    (HERE / f"started-{os.getpid()}").touch()
    go = HERE / f"go-{os.getpid()}"
    pause = threading.Event()
    for _ in range(600):  # until the test says the fresh case is claimed here, <= 60 s
        if go.exists():
            break
        pause.wait(0.1)
    data["long"] = True


def explode(data):
    os._exit(7)


SLOW = Workflow("slow", [Sequential("long", long)], start="long")
BOOM = Workflow("boom", [Sequential("explode", explode)], start="explode")
"""


def _worker_beside_fresh_poison(
    where: Path, url: str, store: Any, case: str, i: int, boom: Any
) -> bool:
    """Run worker ``i`` until it dies or the innocent case ends; whether it died."""
    proc = start_worker(where, url, f"w{i}")
    started = where / f"started-{proc.pid}"
    try:

        def started_or_gone() -> bool:
            job = store.get(case)
            return started.exists() or proc.poll() is not None or job.state.is_final

        wait_until(started_or_gone, "the innocent step to start")
        if started.exists() and proc.poll() is None:
            fresh = enqueue(url, boom, {}, job_id=f"boom-{i}")
            wait_until(
                lambda: (
                    store.lease_owners([fresh]).get(fresh) == f"w{i}" or proc.poll() is not None
                ),
                "the fresh case to be claimed",
            )
            (where / f"go-{proc.pid}").touch()
        wait_until(
            lambda: proc.poll() is not None or store.get(case).state.is_final,
            "the worker to die or the innocent case to end",
        )
    finally:
        if proc.poll() is None:  # it lived on: its work here is over
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=TIMEOUT)
    return proc.returncode != 0  # a fresh case's step may end it after the innocent one


@pytest.mark.slow
def test_fresh_cases_that_kill_their_worker_do_not_fault_a_job_running_alone(
    tmp_path: Path,
) -> None:
    module = tmp_path / "deathflow.py"
    module.write_text(INNOCENT, encoding="utf-8")
    flows = runpy.run_path(str(module))  # the workers' own workflows, to enqueue
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    case = enqueue(url, flows["SLOW"], {})
    store = open_store(url)
    try:
        # Each worker takes the innocent case over; once its step runs there, a new case
        # whose step ends the process is enqueued and claimed by that worker (its own
        # case, not taken over). From the second takeover the innocent job runs alone,
        # so the fresh case waits for it, and the job ends DONE; beside it, each fresh
        # case would end the worker and count a try of the innocent job as one alone,
        # which three deaths in a row would fault.
        deaths = 0
        for i in range(8):
            deaths += _worker_beside_fresh_poison(tmp_path, url, store, case, i, flows["BOOM"])
            if store.get(case).state.is_final:
                break
        job = store.get(case)
        assert job.state is JobState.DONE, f"{job.state} {job.error} after {deaths} deaths"
    finally:
        store.close()
