"""Actors of the test that call ``h.mediator.schedule()``, as they would a Mediator's.

On a full mailbox under ``BACKPRESSURE`` a threaded caller waits in the admission gate
until a slot frees. Under the harness that wait blocked the one thread every actor runs
on, for ever; it now runs the engine until a slot frees (virtual time passes for a
timeout), and a wait nothing can end is a ``Deadlock``, not a hang.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors import JobState, Mediator, Sequential, Workflow
from actors.testing import Deadlock, Harness

DOUBLE = Workflow("double", start="x", steps=[Sequential("x", lambda d: d.update(n=d["n"] * 2))])


class Producer(pykka.ThreadingActor):
    """Schedules cases one after another and waits for their results."""

    def __init__(self, mediator: Mediator) -> None:
        super().__init__()
        self.mediator = mediator

    def on_receive(self, count: Any) -> Any:
        handles = [self.mediator.schedule("double", {"n": n}, timeout=10) for n in range(count)]
        return [handle.result().data["n"] for handle in handles]


@pytest.mark.parametrize("seed", range(3))
def test_an_actor_scheduling_on_a_full_mailbox_waits_for_room_as_a_thread_does(seed: int) -> None:
    with Harness([DOUBLE], seed=seed, runners=1, capacity=1) as h:
        producer = h.actor(Producer, h.mediator)
        assert producer.ask(4) == [0, 2, 4, 6]


def test_a_task_waiting_for_room_only_its_own_runner_could_free_is_a_deadlock() -> None:
    holder: dict[str, Mediator] = {}

    def fan_out(data: dict[str, Any]) -> None:
        for n in range(2):  # the second finds the mailbox full; the only runner is here
            holder["mediator"].schedule("double", {"n": n})

    flow = Workflow("fan", start="f", steps=[Sequential("f", fan_out)])
    with Harness([DOUBLE, flow], seed=1, runners=1, capacity=1) as h:
        holder["mediator"] = h.mediator
        h.schedule("fan", {})
        with pytest.raises(Deadlock, match=r"an admission slot for schedule\(\)"):
            h.finish()


def test_with_a_timeout_it_is_mailbox_full_after_that_much_virtual_time() -> None:
    _full_after_five_virtual_seconds()


def test_the_real_time_a_schedule_call_takes_does_not_shorten_its_virtual_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The call's own work took real time (a busy machine): its 5 s wait ended at 4.99994."""
    import actors._admit

    class Slow:
        """A machine where each look at the monotonic clock finds a second gone."""

        def __init__(self) -> None:
            self.now = 0.0

        def monotonic(self) -> float:
            self.now += 1.0
            return self.now

    monkeypatch.setattr(actors._admit, "time", Slow())
    _full_after_five_virtual_seconds()


def _full_after_five_virtual_seconds() -> None:
    holder: dict[str, Mediator] = {}

    def fan_out(data: dict[str, Any]) -> None:
        for n in range(2):
            holder["mediator"].schedule("double", {"n": n}, timeout=5)

    flow = Workflow("fan", start="f", steps=[Sequential("f", fan_out)])
    with Harness([DOUBLE, flow], seed=1, runners=1, capacity=1) as h:
        holder["mediator"] = h.mediator
        sub = h.schedule("fan", {})
        job = sub.result()
        assert h.clock.now() == pytest.approx(5.0)
    assert job.state is JobState.FAULTED
    assert "MailboxFull: admission mailbox full (1 jobs queued) and no slot freed within 5s" in (
        job.error or ""
    )
