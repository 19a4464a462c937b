"""An operator's view of a split in flight counts the branches at its join on every store.

The SQL stores count arrivals in rows of their own (``join_arrivals``) until the join
fires; the parent's record holds none until then. The views read them there.
"""

from __future__ import annotations

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
