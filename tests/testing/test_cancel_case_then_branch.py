"""A branch cancelled just after its case: the answer says how the branch ended.

Cancelling a case tells the runner of each branch it holds to stop. A second cancel, of
one of those branches, handled before the branch's runner reported, was answered
``CANCELLED`` on the strength of that stop alone: a runner past its last look for a stop
(or gone, its slice stored) had ended the branch at its join, which stayed ``DONE``. It
is now answered as a first cancel of that branch would be: with the runner's report.
"""

from __future__ import annotations

from typing import Any

from actors import JobState
from actors._outcomes import CancelOutcome
from actors.testing import Harness
from actors.testing._shapes import Split, Task
from actors.testing.strategies import GeneratedWorkflow


def _run(seed: int, at: int) -> list[tuple[str, CancelOutcome, JobState]]:
    """Each cancel's answer and its job's end: of case j1, then of its first live branch."""
    wf = GeneratedWorkflow(Split((Task(), Task(), Task()), "sync", False))
    asked: list[tuple[str, Any]] = []

    def cancel_case_then_branch() -> None:
        asked.append(("j1", h.cancel("j1")))
        live = sorted(j.id for j in h.probe.live().values() if j.id != "j1")
        if live:
            asked.append((live[0], h.cancel(live[0])))

    with Harness([wf], seed=seed, runners=2, capacity=4) as h:
        h.schedule(wf.name, wf.data(()))
        h.at(at, cancel_case_then_branch)
        h.finish()
        ends = [(job_id, answer.get(), h.store.get(job_id)) for job_id, answer in asked]
    return [(job_id, outcome, job.state) for job_id, outcome, job in ends]


def test_the_branch_s_answer_agrees_with_its_end() -> None:
    # Seed 2 at action 14: the branch's runner ran its join (left it) as the case's
    # cancel told it to stop; the branch's own cancel came before its report.
    (case, branch) = _run(2, 14)
    assert case == ("j1", CancelOutcome.CANCELLED, JobState.CANCELLED)
    assert branch == ("j2", CancelOutcome.ALREADY_FINISHED, JobState.DONE)


def test_under_many_interleavings_each_cancelled_answer_is_a_cancelled_end() -> None:
    seen = set()
    for seed in range(6):
        for at in range(10, 22):
            for job_id, outcome, state in _run(seed, at):
                assert (outcome is CancelOutcome.CANCELLED) == (state is JobState.CANCELLED), (
                    seed,
                    at,
                    job_id,
                    outcome,
                    state,
                )
                seen.add((job_id == "j1", outcome))
    # Both answers reached for a branch: the runner stopped it, or had ended it.
    assert (False, CancelOutcome.CANCELLED) in seen
    assert (False, CancelOutcome.ALREADY_FINISHED) in seen
