"""A parent row that cannot be read, saved FAULTED, takes its unfinished branches with it.

A claim saves a row it cannot read FAULTED (its columns kept for an operator). A root so
saved left its branches unfinished under a final root: the claiming worker ran them for a
case already over, and should it die first, no claim ever took the case up again (claims
look for unfinished roots). A parent below the root left its branches unfinished too,
and its own parent's split ended without them. They are cancelled with the mark, in its
transaction, each saying why, and come back from the claim cancelled.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from bounds import wait_until
from records import record, saved_split

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Wait, Workflow
from actors.stores import SqliteStore


def _case(store) -> None:
    """Case ``root``: a split of two branches, ``root.1`` waiting on a split of its own."""
    _, branches = saved_split(store, 2, build=lambda job_id="root", **kw: record(job_id, **kw))
    nested = branches[1]
    nested.state, nested.split_step, nested.split_total = JobState.WAITING, "fan", 1
    inner = record("root.1.0", case_id="root", parent_id="root.1", branch_index=0, step="b")
    store.save_split(nested, [inner])


@pytest.mark.parametrize(
    ("bad", "cancelled"), [("root", ["root.0", "root.1", "root.1.0"]), ("root.1", ["root.1.0"])]
)
def test_a_claim_cancels_the_branches_under_a_row_it_saves_faulted(
    make_sql_store, bad, cancelled
) -> None:
    store = make_sql_store()
    _case(store)
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", ("{broken", bad))
    claimed = {job.id: job for job in store.claim("w1", time.time(), 30.0, 10)}
    why = f"cancelled: its parent {bad} could not be read"
    assert claimed[bad].state is JobState.FAULTED
    assert {i: (claimed[i].state, claimed[i].error) for i in cancelled} == dict.fromkeys(
        cancelled, (JobState.CANCELLED, why)
    )
    stored = {job.record.id: job.record for job in store.case_jobs("root")}
    assert {i: (stored[i].state, stored[i].error) for i in cancelled} == dict.fromkeys(
        cancelled, (JobState.CANCELLED, why)
    )
    assert store.unfinished_facts(1).stranded == []
    said = make_sql_store.raw(
        "SELECT state, error FROM step_history WHERE job_id = ? ORDER BY seq", (cancelled[-1],)
    )
    assert tuple(said[-1]) == (JobState.CANCELLED.value, why)
    if bad == "root.1":  # its sibling goes on: the root is readable, and waits for it
        assert claimed["root.0"].state is JobState.READY


def test_a_case_whose_root_cannot_be_read_ends_without_running_its_branches(tmp_path) -> None:
    ran: list[str] = []
    flow = Workflow("w", start="fan", steps=[
        ParallelSplit("fan", branches=["b0", "b1"]),
        Wait("b0", duration=60.0, next="after"),
        Wait("b1", duration=60.0, next="after"),
        Sequential("after", lambda d: ran.append("after"), next="j"),
        Synchronize("j"),
    ])  # fmt: skip
    path = tmp_path / "jobs.db"
    with Mediator([flow], store=SqliteStore(path)) as mediator:
        case = mediator.schedule("w", {}).job_id
        wait_until(lambda: _parked(mediator.store, case), "both branches to park")
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("UPDATE jobs SET data = ? WHERE id = ?", ("{broken", case))
    # A restart on the store: the claim saves the root FAULTED, its branches cancelled.
    with Mediator([flow], store=SqliteStore(path)) as mediator:
        wait_until(lambda: _ended(mediator.store, case), "the case to end")
        states = {job.record.id: job.record.state for job in mediator.store.case_jobs(case)}
    assert states.pop(case) is JobState.FAULTED
    assert set(states.values()) == {JobState.CANCELLED}
    assert ran == []


def _parked(store, case: str) -> bool:
    jobs = store.case_jobs(case)
    return len(jobs) == 3 and all(job.record.state is JobState.WAITING for job in jobs)


def _ended(store, case: str) -> bool:
    return all(job.record.state.is_final for job in store.case_jobs(case))
