"""A case whose root ended after its Discriminator, its other branches still running, ends.

The Discriminator lets the root go on with the first branch while the others are being
cancelled (a running one once its step returns), so the root's own thread may end
before they do. Its row was saved DONE then, and a claim looks for cases by their
unfinished root: a worker killed at that point left the other branches unfinished for
ever, since no worker would take that case again (``actors status`` counted them
unfinished, ``jobs prune`` kept the case). The root's row now stays WAITING until its
last branch ends, so a restarted worker takes the case back and ends it.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until
from worker_process import start_worker

from actors import JobState, enqueue
from actors.stores import open_store

MODULE = """
import pathlib

from actors import Discriminator, ParallelSplit, Sequential, Workflow

HERE = pathlib.Path(__file__).resolve().parent


def fast(data):
    data["winner"] = "fast"


def slow(data):
    (HERE / "slow-started").touch()
    while not (HERE / "release").exists():  # the step outlasts its worker
        pass


def after(data):
    data["after"] = True


RACE = Workflow(
    "race",
    [
        ParallelSplit("split", branches=["fast", "slow"]),
        Sequential("fast", fast, next="first"),
        Sequential("slow", slow, next="first"),
        Discriminator("first", next="after"),
        Sequential("after", after),
    ],
    start="split",
)
"""


def case_jobs(url: str, case: str) -> dict[str, tuple[str | None, JobState]]:
    store = open_store(url)
    try:
        return {
            ("root" if s.record.parent_id is None else f"b{s.record.branch_index}"): (
                s.record.step,
                s.record.state,
            )
            for s in store.case_jobs(case)
        }
    finally:
        store.close()


def run(where: Path, url: str) -> None:
    (where / "raceflow.py").write_text(MODULE, encoding="utf-8")
    race = runpy.run_path(str(where / "raceflow.py"))["RACE"]
    case = enqueue(url, race, {}, job_id="race-1")
    worker = start_worker(where, url)
    try:
        # The fast branch won and the root ran on to its end; the slow one is in its step.
        wait_until((where / "slow-started").exists, "the slow branch to start")
        wait_until(
            lambda: (
                case_jobs(url, case)["root"][0] == "after"
                and case_jobs(url, case)["root"][1] is not JobState.RUNNING
            ),
            "the root to end its own thread",
        )
        root_step, root_state = case_jobs(url, case)["root"]
        # Not final while a branch of it runs: a claim must still find the case.
        assert root_state is JobState.WAITING, (root_step, root_state)
        status = subprocess.run(
            [sys.executable, "-m", "actors", "status", "--store", url, "--json"],
            cwd=where, capture_output=True, text=True, timeout=TIMEOUT, check=True,
        )  # fmt: skip
        summary = json.loads(status.stdout)["summary"]
        assert (summary["waiting_branches"], summary["waiting_events"]) == (1, 0)
        shown = subprocess.run(
            [sys.executable, "-m", "actors", "jobs", "show", case, "--store", url, "--tree"],
            cwd=where, capture_output=True, text=True, timeout=TIMEOUT, check=True,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert "waits for its other branches to end (it ended done)" in shown.stdout
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=TIMEOUT)
        (where / "release").touch()
        worker = start_worker(where, url)  # same name: takes its cases back at once
        deadline = time.monotonic() + TIMEOUT
        while not all(state.is_final for _, state in case_jobs(url, case).values()):
            assert worker.poll() is None, (where / "worker.log").read_text()
            assert time.monotonic() < deadline, (case_jobs(url, case), "never ended")
            time.sleep(0.1)  # polling a database from outside; nothing to wait on
        jobs = case_jobs(url, case)
        assert jobs["root"] == ("after", JobState.DONE)
        store = open_store(url)
        try:
            root = store.get(case)
            assert root is not None and root.data == {"winner": "fast", "after": True}
        finally:
            store.close()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=TIMEOUT) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=TIMEOUT)


@pytest.mark.slow
def test_sqlite_case_ended_after_a_discriminator_resumes_after_a_kill(tmp_path: Path) -> None:
    run(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_case_ended_after_a_discriminator_resumes_after_a_kill(
    pg_database, tmp_path: Path
) -> None:
    run(tmp_path, pg_database("actors_race"))
