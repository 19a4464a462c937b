"""A wait with a deadline stops the harness's clock: it times out then, not after later timers.

When nothing can run the harness jumps the virtual clock to the next alarm. A wait in
progress with a timeout (a test's ``get(timeout=...)``, a task's ``handle.result(timeout=...)``,
a user's actor's ask) would time out at its deadline with threads, before a timer set
for later rings: the jump stops at that deadline, and the wait times out there.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors import JobState, Sequential, Wait, Workflow
from actors.testing import Harness, explore

refs: dict[str, Any] = {}  # the harness, once made: the tasks schedule through it

nap = Workflow("nap", start="sleep", steps=[
    Wait("sleep", 60.0, next="wake"),
    Sequential("wake", lambda d: d.update(woke=True)),
])  # fmt: skip


def _clock_lines(h: Harness) -> list[str]:
    return [f"{e.action} {e.detail}" for e in h.trace if e.actor == "clock"]


def test_a_tests_own_wait_times_out_at_its_deadline_before_a_later_timer() -> None:
    with Harness([nap], seed=0) as h:
        h.schedule("nap", {}, job_id="n1")
        with pytest.raises(pykka.Timeout):
            h.runtime.create_future().get(timeout=30.0)
        assert h.clock.now() == 30.0
        assert h.store.get("n1").state is JobState.WAITING  # its 60 s timer has not rung
        assert _clock_lines(h)[-2:] == ["jump t=30.0", "wait t=30.0, a future timed out"]
        (job,) = h.finish()
        assert job.data == {"woke": True}
        assert h.clock.now() == 60.0


def test_a_timer_due_before_the_deadline_still_rings_first() -> None:
    with Harness([nap], seed=0) as h:
        h.schedule("nap", {}, job_id="n1")
        handle = h.submissions[0]
        h.run_until_quiescent(advance_time=False)
        assert handle.result(timeout=90.0).data == {"woke": True}  # done at 60, in time
        assert h.clock.now() == 60.0


def _timer_first(seed: int) -> bool:
    """Whether the case its 60 s timer wakes ended before a 60 s wait timed out."""
    with Harness([nap], seed=seed) as h:
        h.schedule("nap", {}, job_id="n1")
        h.run_until_quiescent(advance_time=False)
        with pytest.raises(pykka.Timeout):
            h.runtime.create_future().get(timeout=60.0)
        assert h.clock.now() == 60.0
        return h.store.get("n1").state is JobState.DONE


def test_a_timer_due_at_the_deadline_races_the_timeout_as_the_seed_decides() -> None:
    orders = [_timer_first(seed) for seed in range(8)]
    assert set(orders) == {True, False}, orders
    assert [_timer_first(seed) for seed in range(8)] == orders  # a seed replays its order


def _wait_for_nap(data: dict[str, Any]) -> None:
    handle = refs["h"].mediator.schedule("nap", {})
    try:
        handle.result(timeout=30.0)  # the nap takes 60 s: a thread's wait ends first
    except TimeoutError:
        data["gave_up_at"] = refs["h"].clock.now()
    else:
        data["napped_at"] = refs["h"].clock.now()


def test_a_tasks_result_wait_times_out_before_the_sub_case_ends() -> None:
    waiter = Workflow("waiter", start="wait", steps=[Sequential("wait", _wait_for_nap)])

    def scenario(h: Harness) -> None:
        refs["h"] = h
        h.schedule("waiter", {}, job_id="w1")
        jobs = {j.workflow: j for j in h.finish()}
        assert jobs["waiter"].data == {"gave_up_at": 30.0}, jobs["waiter"].data

    explore(scenario, runs=5, workflows=[waiter, nap], runners=2)
