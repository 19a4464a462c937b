"""A runner that dies inside a step resumes its job from the step's last save, on every store.

The harness crashes the runner after a step's task ran, before its save is stored
(``Crash(point="before_save")``); the job runs that step again from what the store holds.
A task that changed the data in place, or a merge its branches' datas, must find them
as saved: had the store kept the engine's objects, the step would run again on its own
changes (counting twice, or failing on what it already took out).
"""

from __future__ import annotations

import pytest

from actors import JobState, ParallelSplit, Sequential, Synchronize, Workflow
from actors.testing import Crash, FaultPlan, Harness


def _add(data):
    data["n"] += 1  # in place: a rerun on the changed data would count twice


COUNT = Workflow(
    "count",
    start="a",
    steps=[
        Sequential("a", _add, next="b"),
        Sequential("b", _add, next="c"),
        Sequential("c", _add),
    ],
)


def _take(parent, branches):
    """Takes each branch's ``part`` out of it (in place): a second run finds none."""
    parent["parts"] = sorted(branch.pop("part") for branch in branches)


def _part(name):
    def task(data):
        data["part"] = name

    return task


FAN = Workflow(
    "fan",
    start="split",
    steps=[
        ParallelSplit("split", branches=["x", "y"]),
        Sequential("x", _part("x"), next="join"),
        Sequential("y", _part("y"), next="join"),
        Synchronize("join", merge=_take, next="end"),
        Sequential("end", lambda d: None),
    ],
)


def _store(make_store):
    """The store under test: memory:// as ``Mediator`` opens it, a SQL store saving each step."""
    return make_store() if make_store.kind == "memory" else make_store(commit="step")


@pytest.mark.parametrize("at", [1, 2, 3])
def test_a_step_that_changed_its_data_in_place_reruns_on_the_saved_data(make_store, at):
    store = _store(make_store)
    plan = FaultPlan(crashes=(Crash(at, point="before_save"),))
    with Harness([COUNT], seed=at, runners=1, store=store, faults=plan) as h:
        h.schedule("count", {"n": 0})
        (job,) = h.finish()
    assert (job.state, job.data) == (JobState.DONE, {"n": 3}), job.error


def test_a_join_whose_merge_changed_its_branches_reruns_on_their_saved_datas(make_store):
    # One runner: split, x, its arrival, y, its arrival; the 6th step is the parent's join.
    store = _store(make_store)
    plan = FaultPlan(crashes=(Crash(6, point="before_save"),))
    with Harness([FAN], seed=0, runners=1, store=store, faults=plan) as h:
        h.schedule("fan", {})
        (job,) = h.finish()
    assert h.monitor.crashes == [(0, job.id, "join")]
    assert (job.state, job.data) == (JobState.DONE, {"parts": ["x", "y"]}), job.error


def test_the_harness_default_store_gives_a_join_its_saved_branch_datas_after_two_crashes():
    """``MemoryStore(copy_data=True)``: the rerun's merge changes no arrival it kept."""
    plan = FaultPlan(crashes=(Crash(6, point="before_save"), Crash(7, point="before_save")))
    with Harness([FAN], seed=0, runners=1, faults=plan) as h:
        h.schedule("fan", {})
        (job,) = h.finish()
    assert h.monitor.crashes == [(0, job.id, "join"), (0, job.id, "join")]
    assert (job.state, job.data) == (JobState.DONE, {"parts": ["x", "y"]}), job.error
