"""A wide split whose worker was killed resumes in the next worker; a poison branch still faults.

Real ``actors worker`` processes on SQLite and PostgreSQL, each restarted under one name
(it takes its cases back at once, each job a job taken over that counts a try before it
runs; the tries are counted a batch of branches to a transaction). A worker killed with
SIGKILL once the split is stored, its branches' steps not run: the next one ends the case
DONE, its join fired once. A branch among many whose step ends the process: the workers
it ends count its tries (and those of the branches counted with it), the sixth worker
faults it and lives on, and every other branch ends DONE, the join firing once.
"""

from __future__ import annotations

import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, enqueue
from actors._job import JobRecord
from actors.stores import open_store

WIDTH = 120
POISON = 37  # the branch whose step ends the process, in the poison test
DIED = 7

MODULE = """
import os
import threading
from pathlib import Path

from actors import ParallelSplit, Sequential, Synchronize, Workflow

HERE = Path(__file__).resolve().parent


def mark(data):
    if data["i"] == data.get("poison"):
        os._exit(7)  # the user's bug: ends the whole process, nothing saved
    pause = threading.Event()
    while (HERE / "hold").exists():  # the worker to kill: its branches never end
        pause.wait(0.05)
    data["done"] = True


def merge(parent, branches):
    parent["joined"] = parent.get("joined", 0) + sum(1 for b in branches if b.get("done"))


def end(data):
    data["ended"] = data.get("ended", 0) + 1


FAN = Workflow(
    "fan",
    [
        ParallelSplit(
            "fan",
            branches=lambda d: [{"i": i, "poison": d.get("poison")} for i in range(d["n"])],
            each="b",
        ),
        Sequential("b", mark, next="join"),
        Synchronize("join", merge=merge, next="end"),
        Sequential("end", end),
    ],
    start="fan",
)
"""


def _worker(where: Path, url: str) -> subprocess.Popen[bytes]:
    with (where / "workers.log").open("ab") as log:  # read when an assertion fails
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "actors", "worker", "--store", url),
                *("--workflows", "wideflow", "--name", "w", "--poll-interval", "0.2"),
            ],
            cwd=where,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _log(where: Path) -> str:
    return (where / "workers.log").read_text()


def _case(where: Path, url: str, data: dict[str, int]) -> str:
    (where / "wideflow.py").write_text(MODULE, encoding="utf-8")
    return enqueue(url, runpy.run_path(str(where / "wideflow.py"))["FAN"], data, job_id="fan-1")


def _serve_until_ended(where: Path, url: str, case: str) -> None:
    """Run a worker until ``case`` ends (it must live), then stop it."""
    worker = _worker(where, url)
    store = open_store(url)
    try:
        deadline = time.monotonic() + 3 * TIMEOUT
        while not store.get(case).state.is_final:
            assert worker.poll() is None, f"the worker died:\n{_log(where)}"
            assert time.monotonic() < deadline, f"the case never ended:\n{_log(where)}"
            time.sleep(0.1)  # polling a database from outside; nothing to wait on
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=TIMEOUT) == 0
    finally:
        store.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=TIMEOUT)


def _ended(url: str, case: str) -> tuple[JobRecord, dict[int, JobRecord]]:
    """The case's root, and its branches by index (every one of them ended)."""
    store = open_store(url)
    try:
        jobs = [stored.record for stored in store.case_jobs(case)]
    finally:
        store.close()
    [root] = [j for j in jobs if j.id == case]
    branches = {j.branch_index: j for j in jobs if j.parent_id == case}
    assert len(branches) == WIDTH
    return root, branches


def _killed_split(where: Path, url: str) -> None:
    (where / "hold").touch()
    case = _case(where, url, {"n": WIDTH})
    first = _worker(where, url)
    store = open_store(url)
    try:
        wait_until(lambda: len(store.case_jobs(case)) == WIDTH + 1, "the split to be stored")
    finally:
        store.close()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=TIMEOUT)
    (where / "hold").unlink()
    _serve_until_ended(where, url, case)
    root, branches = _ended(url, case)
    assert root.state is JobState.DONE, root.error
    assert {b.state for b in branches.values()} == {JobState.DONE}
    assert root.data["joined"] == WIDTH
    assert root.data["ended"] == 1  # the join fired once


def _poison_in_a_wide_split(where: Path, url: str) -> None:
    case = _case(where, url, {"n": WIDTH, "poison": POISON})
    # The first worker runs the split and dies of the branch; the next four take the
    # case over, count its try (with a batch of others, then alone), and die of it too:
    # the death beside the others is not held against it, the three alone are.
    for i in range(5):
        proc = _worker(where, url)
        try:
            died = proc.wait(timeout=3 * TIMEOUT)
            assert died == DIED, f"worker {i} did not die of the step:\n{_log(where)}"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=TIMEOUT)
    _serve_until_ended(where, url, case)
    root, branches = _ended(url, case)
    bad = branches.pop(POISON)
    assert bad.state is JobState.FAULTED
    assert "the last 4 workers to run it from step 'b' (attempt 1) stopped" in (bad.error or "")
    assert {b.state for b in branches.values()} == {JobState.DONE}
    # The branch's fault reaches the join once: the case faults, naming it.
    assert root.state is JobState.FAULTED
    assert "ended" not in root.data
    assert f"got {WIDTH - 1} of {WIDTH} branches: branch {POISON} (job {bad.id})" in (
        root.error or ""
    )


@pytest.mark.slow
def test_sqlite_a_wide_split_whose_worker_was_killed_ends_done_joined_once(
    tmp_path: Path,
) -> None:
    _killed_split(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_a_wide_split_whose_worker_was_killed_ends_done_joined_once(
    pg_database, tmp_path: Path
) -> None:
    _killed_split(tmp_path, pg_database("actors_wide_killed"))


@pytest.mark.slow
def test_sqlite_a_poison_branch_in_a_wide_split_faults_and_the_others_end_done(
    tmp_path: Path,
) -> None:
    _poison_in_a_wide_split(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_a_poison_branch_in_a_wide_split_faults_and_the_others_end_done(
    pg_database, tmp_path: Path
) -> None:
    _poison_in_a_wide_split(tmp_path, pg_database("actors_wide_poison"))
