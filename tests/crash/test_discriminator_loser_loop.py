"""A losing branch that split in turn, its branches in a loop, ends after a takeover.

The Discriminator cancels the other branches of its split: one that split in turn is
cancelled with every branch of it, a running one once its step returns. A worker killed
before that step returned leaves the losing branch unfinished in the store; the worker
that takes the case over must not let its branches go round their loop again (a step a
turn, each saved, the case never ending): none of them runs a step, and the case ends.
The takeover of a losing branch whose cancel was not stored at all is checked on the
case book (``tests/core/test_discriminator_open.py``).
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
from actors.stores import open_store

MODULE = """
import pathlib

from actors import (
    Discriminator, ExclusiveChoice, ParallelSplit, Sequential, Spec, Synchronize, Workflow,
)

HERE = pathlib.Path(__file__).resolve().parent


def fast(data):
    while not (HERE / "poll-started").exists():  # wins once the loser polls
        pass
    data["winner"] = "fast"


def poll(data):
    with (HERE / "turns.log").open("a") as turns:
        turns.write("turn\\n")
    (HERE / "poll-started").touch()
    while not (HERE / "release").exists():  # the step outlasts its worker
        pass


RACE = Workflow(
    "race",
    [
        ParallelSplit("split", branches=["fast", "slow"]),
        Sequential("fast", fast, next="first"),
        ParallelSplit("slow", branches=["poll", "tick"]),  # a loop of splits, polling
        Sequential("poll", poll, next="polled"),
        Sequential("tick", lambda d: None, next="polled"),
        Synchronize("polled", next="ready?"),
        ExclusiveChoice("ready?", Spec(lambda d: False, "never"), if_true="first",
                        if_false="slow"),
        Discriminator("first", next="after"),
        Sequential("after", lambda d: d.update(after=True)),
    ],
    start="split",
)
"""


def start_worker(where: Path, url: str) -> subprocess.Popen[bytes]:
    with (where / "worker.log").open("ab") as log:  # read when an assertion fails
        return subprocess.Popen(
            [sys.executable, "-m", "actors", "worker", "--store", url, "--workflows",
             "raceflow", "--name", "w1", "--poll-interval", "0.2"],
            cwd=where, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


def case_jobs(url: str, case: str) -> dict[str, tuple[str | None, JobState]]:
    """The case's jobs, ``root`` and ``b<index>``: their steps and states."""
    store = open_store(url)
    try:
        return {
            ("root" if s.record.parent_id is None else f"b{s.record.branch_index}"): (
                s.record.step,
                s.record.state,
            )
            for s in store.case_jobs(case)
            if s.record.parent_id is None or s.record.parent_id == case
        }
    finally:
        store.close()


def _turns(where: Path) -> int:
    log = where / "turns.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def run(where: Path, url: str) -> None:
    (where / "raceflow.py").write_text(MODULE, encoding="utf-8")
    race = runpy.run_path(str(where / "raceflow.py"))["RACE"]
    case = enqueue(url, race, {}, job_id="race-1")
    worker = start_worker(where, url)
    try:
        # The fast branch won and the root ran on; the loser's branch is in its step.
        wait_until(
            lambda: case_jobs(url, case)["root"] == ("after", JobState.WAITING),
            "the root to end its own thread, held for its losing branch",
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=TIMEOUT)
        turns = _turns(where)
        (where / "release").touch()
        worker = start_worker(where, url)  # same name: takes its cases back at once
        deadline = time.monotonic() + TIMEOUT
        while not all(state.is_final for _, state in case_jobs(url, case).values()):
            assert worker.poll() is None, (where / "worker.log").read_text()
            assert time.monotonic() < deadline, (case_jobs(url, case), _turns(where), "spins")
            time.sleep(0.1)  # polling a database from outside; nothing to wait on
        jobs = case_jobs(url, case)
        assert jobs["root"] == ("after", JobState.DONE), jobs
        assert jobs["b1"][1] is JobState.CANCELLED, jobs
        assert _turns(where) == turns  # no turn of the loser's loop ran again
    finally:
        (where / "release").touch()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            if worker.wait(timeout=TIMEOUT) is None:
                worker.kill()


@pytest.mark.slow
def test_sqlite_losing_branch_that_split_is_cancelled_after_a_takeover(tmp_path: Path) -> None:
    run(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}")
