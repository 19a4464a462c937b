"""A case cancelled once its ``Discriminator`` fired and its last step ended it ``DONE``.

The losing branches are still being cancelled (one's runner died; it runs again only to
stop): the case's row stays open until they end. A cancel of the case handled then was
answered ``CANCELLED``, though the case ended ``DONE``; it is ``ALREADY_FINISHED`` now.
"""

from __future__ import annotations

from typing import Any

from actors import JobState
from actors._outcomes import CancelOutcome
from actors.testing import Crash, FaultPlan, Harness
from actors.testing._shapes import Split, Task
from actors.testing.strategies import GeneratedWorkflow

FIRST_WINS = GeneratedWorkflow(Split((Task(), Task(), Task()), "first", False))
# The runner dies before a loser's step: that loser lives on after the case's last step.
LOSER_RUNNER_DIES = FaultPlan(crashes=(Crash(4, point="before_step"),))


def _cancel_at(seed: int, at: int) -> tuple[CancelOutcome, JobState, list[str]]:
    answers: list[Any] = []
    with Harness([FIRST_WINS], seed=seed, runners=1, faults=LOSER_RUNNER_DIES) as h:
        h.schedule(FIRST_WINS.name, FIRST_WINS.data(()))
        h.at(at, lambda: answers.append(h.cancel("j1")))
        h.finish()
        case = h.store.get("j1")
        trace = [f"{e.action} {e.job} {e.detail}" for e in h.trace]
    assert case is not None
    return answers[0].get(), case.state, trace


def test_a_cancel_after_the_case_s_last_step_with_losers_still_live_came_too_late() -> None:
    outcome, state, trace = _cancel_at(0, 19)
    # The case ended before the cancel was handled; a loser was still to end.
    ended = trace.index("JobEnded j1 done at 'first1'")
    asked = trace.index("CancelJob j1 ")
    assert ended < asked < trace.index("JobEnded j3 cancelled at 't3'"), trace
    assert (outcome, state) == (CancelOutcome.ALREADY_FINISHED, JobState.DONE)


def test_whenever_it_comes_the_answer_agrees_with_the_case_s_end() -> None:
    seen = set()
    for seed in range(4):
        for at in range(8, 24):
            outcome, state, _ = _cancel_at(seed, at)
            assert (outcome is CancelOutcome.CANCELLED) == (state is JobState.CANCELLED), (
                seed,
                at,
                outcome,
                state,
            )
            seen.add(outcome)
    assert seen == {CancelOutcome.CANCELLED, CancelOutcome.ALREADY_FINISHED}
