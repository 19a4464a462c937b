"""A split whose branch rows were deleted by hand faults, naming the branches gone.

Resumed after a restart, such a split ends FAULTED, which is right, but it said "join
'join' got 1 of 3 branches: the others ended without reaching it": no branch ended
anywhere, its row is gone. The reason now names the branches the store holds no row of,
apart from those that did end without reaching the join.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bounds import wait_until

from actors import (
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.admin import Admin


def _noop(data: Any) -> None:
    pass


FLOW = Workflow("paths", start="split", steps=[
    ParallelSplit("split", branches=lambda order: order["lines"], each="route"),
    ExclusiveChoice("route", spec=lambda line: line["path"] == "nap", if_true="nap",
                    if_false="route2"),
    ExclusiveChoice("route2", spec=lambda line: line["path"] == "drop", if_true="drop",
                    if_false="pass"),
    Wait("nap", 3600, next="pass"),
    Sequential("pass", _noop, next="join"),
    Sequential("drop", _noop),  # no next: ends without reaching the join
    Synchronize("join", merge=lambda order, lines: None, next="after"),
    Sequential("after", _noop),
])  # fmt: skip


def _resumed_without(tmp_path: Path, paths: list[str], deleted: list[int]) -> Any:
    """Case s4 as it ends, resumed after its ``deleted`` branch rows were removed by hand.

    Its split sends a branch down each of ``paths``; the rows go while no worker runs.
    """
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    mediator = Mediator([FLOW], store=url)
    try:
        mediator.schedule("paths", {"lines": [{"path": p} for p in paths]}, job_id="s4")
        with Admin(url) as admin:

            def settled() -> bool:
                kids = [j for j in admin.jobs(limit=50).items if j.parent_id == "s4"]
                ended = [j for j in kids if j.state in (JobState.WAITING, JobState.DONE)]
                return len(ended) == len(paths)

            wait_until(settled, "the branches to park or end")
    finally:
        mediator.shutdown(drain=False)
    with sqlite3.connect(path) as db:
        for index in deleted:
            db.execute("DELETE FROM jobs WHERE parent_id = 's4' AND branch_index = ?", (index,))
    with Mediator([FLOW], store=url), Admin(url) as admin:
        wait_until(lambda: admin.job("s4").state.is_final, "s4 to end")
        return admin.job("s4")


def test_a_split_missing_a_branch_row_names_it(tmp_path: Path) -> None:
    job = _resumed_without(tmp_path, ["pass", "nap", "drop"], deleted=[1])
    assert job.state is JobState.FAULTED
    assert job.error == (
        "join 'join' got 1 of 3 branches: the store holds no row of its branch(es) 1 "
        "(deleted, by hand or retain); the others ended without reaching it"
    )


def test_a_split_missing_every_unarrived_branch_row_names_them_alone(tmp_path: Path) -> None:
    job = _resumed_without(tmp_path, ["pass", "nap", "nap"], deleted=[1, 2])
    assert job.state is JobState.FAULTED
    assert job.error == (
        "join 'join' got 1 of 3 branches: the store holds no row of its branch(es) 1, 2 "
        "(deleted, by hand or retain)"
    )
