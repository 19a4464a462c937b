"""More bugs users write, found by the harness as its guide teaches, with no fault to add.

Each is a small workflow and a check on the user's own state, searched over a fixed
budget of seeds (the same runs every time): a read-modify-write of a counter held by a
user's actor, made by two branches each in one step of two asks; a cancel that leaves a
reservation held; a step that schedules follow-up work and is run again by a crash
before its save; and, the assumption that holds, an ``on_shed`` hook that takes a shed
case for one that never ran.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pykka

from actors import FullMode, Job, JobState, ParallelSplit, Sequential, Synchronize, Workflow
from actors.testing import Crash, FaultPlan, Harness, InvariantViolation

SEEDS = 500


def _found(run: Any) -> list[int]:
    """The seeds of ``SEEDS`` whose run fails its check."""
    found = []
    for seed in range(SEEDS):
        try:
            run(seed)
        except InvariantViolation:
            found.append(seed)
    return found


# -- Two branches read, then write, a counter a user's actor holds ------------------------


class Counter(pykka.ThreadingActor):
    """The user's counter: ``"get"`` reads it, ``("set", n)`` writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def on_receive(self, message: Any) -> Any:
        if message == "get":
            return self.n
        self.n = message[1]
        return None


refs: dict[str, Any] = {}


def _bump(data: dict[str, Any]) -> None:
    counter = refs["counter"]
    seen = counter.ask("get", timeout=5)
    counter.ask(("set", seen + 1), timeout=5)  # another branch may have written since


bump_flow = Workflow("bump", start="split", steps=[
    ParallelSplit("split", branches=["a", "b"]),
    Sequential("a", _bump, next="join"),
    Sequential("b", _bump, next="join"),
    Synchronize("join"),
])  # fmt: skip


def _bump_twice(seed: int) -> None:
    with Harness([bump_flow], seed=seed, runners=2) as h:
        refs["counter"] = h.actor(Counter)
        h.schedule("bump", {})
        h.finish()
        counted = refs["counter"].ask("get")
        if counted != 2:
            h.fail(f"lost update: counted {counted}")


def test_a_lost_update_between_two_asks_of_one_step_is_found() -> None:
    """The runner waits on each ask: the other branch's runner acts meanwhile."""
    found = _found(_bump_twice)
    assert len(found) > SEEDS // 10, len(found)  # 119 of 500 when measured


# -- A cancel that leaves a reservation held ----------------------------------------------

held: set[int] = set()

reserve_flow = Workflow("reserve", start="reserve", steps=[
    Sequential("reserve", lambda data: held.add(data["order"]), next="pay"),
    Sequential("pay", lambda data: {**data, "paid": True}, next="release"),
    Sequential("release", lambda data: held.discard(data["order"])),
])  # fmt: skip


def _cancelled_with_stock_held(seed: int) -> None:
    held.clear()
    cancel_at = random.Random(seed).randint(0, 12)  # as Hypothesis would draw it
    with Harness([reserve_flow], seed=seed) as h:
        sub = h.schedule("reserve", {"order": 1})
        h.at(cancel_at, lambda: h.cancel(sub.job_id))
        (job,) = h.finish()
        if held:
            h.fail(f"case {job.state.name}, order 1 still reserved")


def test_a_cancel_that_leaves_a_reservation_held_is_found() -> None:
    found = _found(_cancelled_with_stock_held)
    assert len(found) > SEEDS // 10, len(found)  # 106 of 500 when measured


# -- Follow-up work scheduled twice by a crash before the step's save ---------------------

notes: list[int] = []

follow_flow = Workflow("follow", start="enqueue", steps=[
    Sequential("enqueue", lambda data: refs["harness"].mediator.schedule(
        "note", {"for": data["order"]}), next="done"),
    Sequential("done", lambda data: data),
])  # fmt: skip
note_flow = Workflow("note", start="note", steps=[
    Sequential("note", lambda data: notes.append(data["for"])),
])  # fmt: skip


def _noted_twice(seed: int) -> None:
    notes.clear()
    plan = FaultPlan(crashes=(Crash(1, point="before_save"),))
    with Harness([follow_flow, note_flow], seed=seed, faults=plan) as h:
        refs["harness"] = h
        h.schedule("follow", {"order": 1})
        h.finish()
        h.run_until_quiescent()
        if notes != [1]:
            h.fail(f"follow-up work ran {len(notes)} times")


def test_follow_up_work_scheduled_again_by_a_rerun_is_found_in_every_seed() -> None:
    assert _found(_noted_twice) == list(range(SEEDS))


def test_follow_up_work_named_by_the_idempotency_key_is_scheduled_once() -> None:
    """``job_id=ctx.idempotency_key``: the rerun's schedule is refused, not run again."""
    from actors import JobExistsError, StepContext

    def enqueue(data: dict[str, Any], ctx: StepContext) -> None:
        # Refused when the run the crash cut short scheduled it already.
        with contextlib.suppress(JobExistsError):
            refs["harness"].mediator.schedule(
                "note", {"for": data["order"]}, job_id=f"note-{ctx.idempotency_key}"
            )

    keyed = Workflow("follow", start="enqueue", steps=[
        Sequential("enqueue", enqueue, next="done"), Sequential("done", lambda data: data),
    ])  # fmt: skip
    for seed in range(100):
        notes.clear()
        plan = FaultPlan(crashes=(Crash(1, point="before_save"),))
        with Harness([keyed, note_flow], seed=seed, faults=plan) as h:
            refs["harness"] = h
            h.schedule("follow", {"order": 1})
            h.finish()
            h.run_until_quiescent()
            assert notes == [1], (seed, notes)


# -- An on_shed hook that takes a shed case for one that never ran -------------------------


def test_a_shed_case_never_ran_a_step_under_any_schedule_or_crash() -> None:
    """What ``on_shed`` may assume: only a case no runner took is shed (DROP_OLDEST)."""
    ran: set[str] = set()
    shed: list[Job] = []
    flow = Workflow("reading", start="read", steps=[
        Sequential("read", lambda data: ran.add(data["n"]), next="store"),
        Sequential("store", lambda data: data),
    ])  # fmt: skip
    for seed in range(200):
        ran.clear()
        shed.clear()
        plan = FaultPlan(crashes=(Crash(1 + seed % 4, lease=seed % 2 == 1),))
        with Harness([flow], seed=seed, runners=1, capacity=1, full_mode=FullMode.DROP_OLDEST,
                     on_shed=shed.append, faults=plan) as h:  # fmt: skip
            for n in range(6):
                h.schedule("reading", {"n": str(n)})
            jobs = h.finish()
        assert shed, seed
        assert not {job.data["n"] for job in shed} & ran, seed
        assert {j.id for j in jobs if j.state is JobState.SHED} == {j.id for j in shed}
