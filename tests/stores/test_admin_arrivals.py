"""An operator's view of a split in flight counts the branches at its join on every store.

The SQL stores count arrivals in rows of their own (``join_arrivals``) until the join
fires; the parent's record holds none until then. The views read them there.
"""

from __future__ import annotations

import pytest
from bounds import wait_until

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Wait, Workflow
from actors.admin import Admin

FLOW = Workflow(
    "fan",
    [
        ParallelSplit("split", branches=["quick", "nap", "doze"]),
        Sequential("quick", lambda d: None, next="join"),
        Wait("nap", duration=3600, next="join"),
        Wait("doze", duration=3600, next="join"),
        Synchronize("join"),
    ],
    start="split",
)


def test_a_waiting_parent_and_its_tree_name_the_branches_that_arrived(store):
    mediator = Mediator([FLOW], store=store)
    try:
        mediator.schedule("fan", {}, job_id="fan-1")
        admin = Admin(store, workflows=[FLOW])
        wait_until(
            lambda: (
                sum(job.job.state is JobState.DONE for job in admin.case("fan-1").root.children)
                == 1
            ),
            "the quick branch to reach the join",
        )
        parent = admin.job("fan-1")
        assert parent.waiting_for == "2 of 3 branches of split 'split'"
        split = admin.case("fan-1").root.split
        assert split is not None
        assert (split.arrived, split.waiting_for) == ((0,), (1, 2))
        assert admin.job_infos(["fan-1"])["fan-1"].waiting_for == parent.waiting_for
    finally:
        mediator.shutdown(drain=False)


def _keep(data, ctx):
    data[f"ran_{ctx.job_id}"] = True


def _merge(parent, branches):
    for branch in branches:
        parent.update(branch)


PAIR = Workflow(
    "pair",
    [
        ParallelSplit("split", branches=["quick", "nap"]),
        Sequential("quick", _keep, next="join"),
        Wait("nap", duration=3600, next="join"),
        Synchronize("join", merge=_merge),
    ],
    start="split",
)


def _arrived(admin):
    split = admin.case("pair-1").root.split
    return None if split is None else split.arrived


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_branch_cancelled_in_the_store_leaves_its_siblings_arrivals(request, tmp_path, kind):
    # The cancel saved the waiting parent from its record, whose arrivals map is empty
    # while the split runs (they are rows of their own): the rows were cleared with it,
    # and a branch reset after the cancel met a join that had lost the quick branch
    # ("join 'join' got 1 of 2 branches"), its data gone.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    if kind == "postgres":
        url = request.getfixturevalue("fresh_pg_url")
    admin = Admin(url, workflows=[PAIR])
    with Mediator([PAIR], store=url, poll_interval=0.05, lease_seconds=5) as mediator:
        mediator.schedule("pair", {}, job_id="pair-1")
        wait_until(lambda: _arrived(admin) == (0,), "quick to arrive")
        mediator.shutdown(drain=False)  # the case is left to the operator
    nap = admin.case("pair-1").root.children[1].job.id
    assert admin.cancel(nap).via == "store"
    split = admin.case("pair-1").root.split
    assert (split.arrived, split.ended) == ((0,), (1,))
    with Mediator([PAIR], store=url, poll_interval=0.05, lease_seconds=5):
        wait_until(lambda: admin.job("pair-1").state is JobState.CANCELLED, "the split to end")
        assert admin.retry(nap, from_step="quick").outcome == "reset"
        wait_until(lambda: admin.job("pair-1").state.is_final, "the case to end again")
    root = admin.job("pair-1")
    kids = [kid.job.id for kid in admin.case("pair-1").root.children]
    admin.close()
    assert root.state is JobState.DONE, root.error
    assert sorted(root.data) == sorted(f"ran_{kid}" for kid in kids)  # both branches' data
