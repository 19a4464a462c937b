"""A crash armed by hand (``h.crash_runner``) is named in a failure's config line.

The config line said ``faults: no faults`` under a trace showing the crash: a reader of
the report could not tell where the crash came from. It names the hand-armed crashes
beside the plan's, as they were armed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actors import Sequential, Wait, Workflow
from actors.testing import Crash, FaultPlan, Harness, replay

charges: list[int] = []


def charge(data):
    charges.append(data["order"])  # not keyed on the idempotency key: the user's bug


pay_flow = Workflow("pay", start="charge", steps=[
    Sequential("charge", charge, next="ship"),
    Sequential("ship", lambda data: {**data, "shipped": True}),
])  # fmt: skip


def config_line(arm: Callable[[Harness], Any], **options: Any) -> str:
    """The config line of the failure of a run that charged twice, or checked nothing."""

    def scenario(h: Harness) -> None:
        charges.clear()
        arm(h)
        h.schedule("pay", {"order": 1})
        h.finish()
        assert charges == [1]
        h.fail("charged once")  # the run must fail either way: its report is the subject

    with pytest.raises(AssertionError) as caught:
        replay(scenario, seed=3, workflows=[pay_flow], **options)
    text = "\n".join([str(caught.value), *getattr(caught.value, "__notes__", ())])
    return next(line for line in text.splitlines() if line.startswith("config: "))


def test_a_crash_armed_by_hand_is_in_the_config_line() -> None:
    line = config_line(lambda h: h.crash_runner(0, point="before_save"), runners=1)
    assert charges == [1, 1]
    assert line.endswith("; faults: armed by hand: crash_runner(0, point='before_save')"), line


def test_hand_armed_crashes_follow_the_plan_and_keep_their_options() -> None:
    plan = FaultPlan(crashes=(Crash(at_step=9),))

    def arm(h: Harness) -> None:
        h.crash_runner(1, point="stalled", lease=True, after=2)
        h.crash_runner(0, point="before_save")

    line = config_line(arm, runners=2, faults=plan)
    want = (
        f"; faults: {plan.describe()}; armed by hand: crash_runner(1, point='stalled', "
        "lease=True, after=2), crash_runner(0, point='before_save')"
    )
    assert line.endswith(want), line


def test_a_run_with_no_faults_still_says_so() -> None:
    line = config_line(lambda h: None)
    assert charges == [1]
    assert line.endswith("; faults: no faults"), line


def test_crash_runner_after_counts_a_wait_twice_as_it_parks_and_as_it_fires() -> None:
    """The step after a ``Wait`` is ``after=2`` on from a job's start, as the guide says."""
    nap_flow = Workflow("nap", start="nap", steps=[
        Wait("nap", duration=5.0, next="charge"),
        Sequential("charge", charge, next="ship"),
        Sequential("ship", lambda data: {**data, "shipped": True}),
    ])  # fmt: skip

    def charged(after: int) -> list[int]:
        def scenario(h: Harness) -> None:
            charges.clear()
            h.crash_runner(0, point="before_save", after=after)
            h.schedule("nap", {"order": 1})
            h.advance(5.0)
            h.finish()

        replay(scenario, seed=1, workflows=[nap_flow], runners=1)
        return list(charges)

    assert charged(0) == [1]  # parking on the Wait: nothing charged yet
    assert charged(1) == [1]  # the Wait's timer releasing the job
    assert charged(2) == [1, 1]  # the charge, its save lost: charged again
