"""Under the harness, no stored state has a final job over an unfinished branch.

The monitor checks it after every delivery (invariant 1: a worker that died there left
a case no claim takes up again). A branch that ran on past a ``Discriminator`` of its
own to its parent's join was saved ``DONE`` while its losers were still with a runner,
and its parent could end before them; every interleaving the seeds reach is tried.
"""

from __future__ import annotations

from actors import Discriminator, ParallelSplit, Sequential, Synchronize, Workflow
from actors.testing import explore

NESTED = Workflow("w", start="fan", steps=[
    ParallelSplit("fan", branches=["plain", "inner"]),
    Sequential("plain", lambda d: None, next="j"),
    ParallelSplit("inner", branches=["win", "lose"]),
    Sequential("win", lambda d: None, next="first"),
    Sequential("lose", lambda d: None, next="lose2"),
    Sequential("lose2", lambda d: None, next="first"),
    Discriminator("first", next="j"),
    Synchronize("j", next="done"),
    Sequential("done", lambda d: None),
])  # fmt: skip


def one_case(h) -> None:
    h.schedule("w", {})
    h.finish()


def test_no_final_job_is_stored_over_a_live_branch() -> None:
    assert explore(one_case, runs=300, workflows=[NESTED], runners=3) == 300
