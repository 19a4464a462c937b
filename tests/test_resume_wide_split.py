"""A wide split taken over from a worker that stopped: its branches' tries counted in batches.

Real SQLite stores in one process. A worker stores a split of many branches and stops
before they run (a copy of its store, taken then, is what it leaves behind); a worker
restarted under its name takes the case back, each branch a job taken over that counts
a try before it runs. The tries are counted a batch of branches to a transaction, and
the branches' slices are stored with the others' (group commit), not each alone: the
case ends DONE, its join fired once.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow, enqueue
from actors.stores import open_store
from actors.stores._sql import SqlStore

WIDTH = 200


def _fan(gate: threading.Event) -> Workflow:
    def mark(data: dict[str, Any]) -> None:
        assert gate.wait(2 * TIMEOUT), "the test never opened the gate"
        data["done"] = True

    def merge(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
        parent["joined"] = parent.get("joined", 0) + sum(1 for b in branches if b.get("done"))

    def end(data: dict[str, Any]) -> None:
        data["ended"] = data.get("ended", 0) + 1

    return Workflow(
        "fan",
        [
            ParallelSplit("fan", branches=lambda d: [{"i": i} for i in range(d["n"])], each="b"),
            Sequential("b", mark, next="join"),
            Synchronize("join", merge=merge, next="end"),
            Sequential("end", end),
        ],
        start="fan",
    )


def _left_behind(tmp_path: Path) -> tuple[str, str]:
    """A store where worker ``w`` holds a case split into WIDTH branches, none run."""
    live, left = tmp_path / "live.db", tmp_path / "left.db"
    gate = threading.Event()  # never opened: the branches wait until the worker stops
    case = enqueue(f"sqlite:///{live}", _fan(gate), {"n": WIDTH})
    reader = open_store(f"sqlite:///{live}")
    try:
        with Mediator([_fan(gate)], runners=2, store=f"sqlite:///{live}", owner="w") as _m:
            wait_until(lambda: len(reader.case_jobs(case)) == WIDTH + 1, "the split to be stored")
            # What the worker leaves if its process dies now: the case held, no branch run.
            with sqlite3.connect(live) as src, sqlite3.connect(left) as dst:
                src.backup(dst)
            gate.set()
    finally:
        gate.set()
        reader.close()
    return f"sqlite:///{left}", case


@pytest.mark.slow
def test_a_wide_split_taken_over_counts_its_tries_in_batches_and_joins_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, case = _left_behind(tmp_path)
    counts: list[int] = []  # jobs per transaction that counted tries
    waits = 0  # slices a runner waited to see stored
    lock = threading.Lock()
    one, many, end_slice = (
        SqlStore.count_try,
        getattr(SqlStore, "count_tries", None),
        (SqlStore.end_slice),
    )

    def count_try(self: SqlStore, job: Any) -> int:
        with lock:
            counts.append(1)
        return one(self, job)

    def count_tries(self: SqlStore, jobs: Any) -> Any:
        with lock:
            counts.append(len(jobs))
        assert many is not None
        return many(self, jobs)

    def waited_end_slice(self: SqlStore, then: Any = None) -> None:
        nonlocal waits
        if then is None and threading.current_thread().name.startswith("Runner"):
            with lock:
                waits += 1
        end_slice(self, then)

    monkeypatch.setattr(SqlStore, "count_try", count_try)
    if many is not None:
        monkeypatch.setattr(SqlStore, "count_tries", count_tries)
    monkeypatch.setattr(SqlStore, "end_slice", waited_end_slice)
    gate = threading.Event()
    gate.set()
    reader = open_store(url)
    try:
        with Mediator([_fan(gate)], runners=4, store=url, owner="w", poll_interval=0.05):
            wait_until(lambda: reader.get(case).state.is_final, "the resumed case to end")
        root = reader.get(case)
        assert root.state is JobState.DONE, root.error
        assert root.data["joined"] == WIDTH
        assert root.data["ended"] == 1  # the join fired once
        branches = [j for j in reader.case_jobs(case) if j.record.parent_id == case]
        assert len(branches) == WIDTH
        assert all(b.record.state is JobState.DONE for b in branches)
    finally:
        reader.close()
    # Every branch (and the parent, waiting for them) counted its try, once.
    assert sum(counts) == WIDTH + 1
    # A transaction counts up to 50 of them: not one transaction a branch.
    assert len(counts) <= 2 * (WIDTH + 1) // 50, counts
    # No branch's runner waited for its slice to be stored on its own.
    assert waits <= 4, waits
