"""A case whose root ended while a Discriminator's loser still ran ends after a kill.

Two shapes left the root's row final over a branch still running: a branch that went
on past a Discriminator of its own and arrived at the root's join (the arrival was
saved DONE, its losers still running, and the root ran on to its end), and a root that
looped back through its split (a loser of the first round still inside its task when
the second round's join fired and the root ended). Claims look for unfinished roots:
a worker killed there left the case unfinished for ever. The rows of the jobs still
holding a live branch now stay WAITING until their last branch ends, so a restarted
worker takes the case back and ends it.
"""

from __future__ import annotations

import runpy
import signal
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until
from worker_process import start_worker

from actors import JobState, enqueue
from actors.stores import open_store

COMMON = """
import pathlib

from actors import (
    Discriminator, ExclusiveChoice, ParallelSplit, Sequential, Spec, Synchronize, Wait,
    Workflow,
)

HERE = pathlib.Path(__file__).resolve().parent


def slow(data):
    (HERE / "slow-started").touch()
    while not (HERE / "release").exists():  # the step outlasts its worker
        pass


def fast(data):
    while not (HERE / "slow-started").exists():  # the slow one is inside its step first
        pass


def done(data):
    data["done"] = True
    (HERE / "root-done").touch()
"""

NESTED = """
FLOW = Workflow("race", start="fan", steps=[
    ParallelSplit("fan", branches=["plain", "inner"]),
    Sequential("plain", lambda d: None, next="j"),
    ParallelSplit("inner", branches=["fast", "slow"]),
    Sequential("fast", fast, next="first"),
    Sequential("slow", slow, next="first"),
    Discriminator("first", next="j"),
    Synchronize("j", next="done"),
    Sequential("done", done),
])
"""

LOOP = """
FLOW = Workflow("race", start="fan", steps=[
    ParallelSplit("fan", branches=["fast", "round?"]),
    Sequential("fast", fast, next="first"),
    ExclusiveChoice("round?", Spec(lambda d: d.get("rounds", 0) > 0, "a later round"),
                    if_true="nap", if_false="slow"),
    Wait("nap", duration=60.0, next="first"),  # a later round's loser: cancelled at once
    Sequential("slow", slow, next="first"),
    Discriminator("first", next="count"),
    Sequential("count", lambda d: d.update(rounds=d.get("rounds", 0) + 1), next="again?"),
    ExclusiveChoice("again?", Spec(lambda d: d["rounds"] < 2, "rounds < 2"),
                    if_true="fan", if_false="done"),
    Sequential("done", done),
])
"""


def states(url: str, case: str) -> dict[str, tuple[str | None, JobState]]:
    store = open_store(url)
    try:
        return {s.record.id: (s.record.step, s.record.state) for s in store.case_jobs(case)}
    finally:
        store.close()


def saved_at_done(url: str, case: str) -> bool:
    step, state = states(url, case)[case]
    return step == "done" and state is not JobState.RUNNING


def run(where: Path, url: str, shape: str) -> None:
    (where / "raceflow.py").write_text(COMMON + shape, encoding="utf-8")
    flow = runpy.run_path(str(where / "raceflow.py"))["FLOW"]
    case = enqueue(url, flow, {}, job_id="race-1")
    worker = start_worker(where, url)
    try:
        wait_until((where / "root-done").exists, "the root to run its last step")
        # Stored with the slice that ran the step (the whole slice, with group commit).
        wait_until(lambda: saved_at_done(url, case), "the root's end to be stored")
        # Not final while a branch below it runs: a claim must still find the case.
        assert states(url, case)[case] == ("done", JobState.WAITING)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=TIMEOUT)
        (where / "release").touch()
        worker = start_worker(where, url)  # same name: takes its cases back at once
        deadline = time.monotonic() + TIMEOUT
        while not all(state.is_final for _, state in states(url, case).values()):
            assert worker.poll() is None, (where / "worker.log").read_text()
            assert time.monotonic() < deadline, (states(url, case), "never ended")
            time.sleep(0.1)  # polling a database from outside; nothing to wait on
        assert states(url, case)[case] == ("done", JobState.DONE)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=TIMEOUT) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=TIMEOUT)


SHAPES = [pytest.param(NESTED, id="nested"), pytest.param(LOOP, id="loop")]


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_sqlite_case_ended_below_its_root_resumes_after_a_kill(tmp_path: Path, shape) -> None:
    run(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}", shape)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("shape", SHAPES)
def test_postgres_case_ended_below_its_root_resumes_after_a_kill(
    pg_database, tmp_path: Path, shape
) -> None:
    run(tmp_path, pg_database("actors_open_below"), shape)
