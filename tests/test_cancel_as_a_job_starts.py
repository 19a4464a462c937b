"""A cancel that comes as a runner takes the job from the admission gate stops it.

The Scheduler looks for the job on a runner, then at the gate. A runner that took it
from the gate in between left it found in neither: the cancel was kept for a report
that never takes cancels up (the job's end), answered ``CANCELLED``, and the job ran on
to ``DONE``.
"""

from __future__ import annotations

import threading
from typing import Any

from bounds import TIMEOUT
from flows import Gate

from actors import CancelOutcome, JobState, Mediator, Sequential, Workflow


def test_a_cancel_as_the_runner_takes_the_job_from_the_gate_stops_it() -> None:
    blocker = Gate()  # holds the one runner, so that c1 waits at the gate
    entered, answered = threading.Event(), threading.Event()

    def step(data: Any) -> None:
        entered.set()
        assert answered.wait(TIMEOUT), "the cancel was never answered"

    flows = [
        Workflow("hold", [Sequential("hold", blocker)], "hold"),
        Workflow("one", [Sequential("step", step)], "step"),
    ]
    with Mediator(flows, runners=1) as mediator:
        gate = mediator._engine.gate
        real_remove = gate.remove

        def remove(job_id: str) -> Any:
            if job_id == "c1":  # the Scheduler found c1 on no runner: one takes it now
                blocker.opened.set()
                assert entered.wait(TIMEOUT), "c1 never started"
            return real_remove(job_id)

        gate.remove = remove
        mediator.schedule("hold", {}, job_id="b")
        assert blocker.entered.wait(TIMEOUT), "b never started"
        handle = mediator.schedule("one", {}, job_id="c1")
        try:
            outcome = mediator.cancel("c1")
        finally:
            answered.set()
        job = handle.result(TIMEOUT)
    assert (outcome, job.state) == (CancelOutcome.CANCELLED, JobState.CANCELLED), job
