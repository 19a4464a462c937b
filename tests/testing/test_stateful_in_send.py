"""MediatorMachine freezes a worker inside a request's ``send``: a late charge is found.

An order's payment request times out and the order expires (refunded); a worker frozen in
the ``send`` of that request, after its park was stored, wakes and charges the expired
order. Only a crash at ``"in_send"`` reaches it: a worker crashed or stalled anywhere else
sends before the timeout, or never. The machine draws the point among its defaults.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from actors import RequestReaction, Sequential, StepContext, Workflow
from actors.testing import MediatorMachine

CHARGED: set[str] = set()
EXPIRED: set[str] = set()


def _pay(data: dict[str, Any], ctx: StepContext) -> None:
    CHARGED.add(ctx.case_id)  # charges whatever order it is asked, expired or not


def _expire(data: dict[str, Any], ctx: StepContext) -> None:
    EXPIRED.add(ctx.case_id)
    CHARGED.discard(ctx.case_id)  # refunded


ORDERS = Workflow("order", start="pay", steps=[
    RequestReaction("pay", send=_pay, timeout=30.0, on_timeout="expire", next="ship"),
    Sequential("ship", lambda d: d),
    Sequential("expire", _expire),
])  # fmt: skip


class LateChargeMachine(MediatorMachine):
    workflows = (ORDERS,)
    harness_options: ClassVar[dict[str, Any]] = {"runners": 1}

    def __init__(self) -> None:
        super().__init__()
        CHARGED.clear()
        EXPIRED.clear()

    def check_result(self, job: Any) -> None:
        assert not CHARGED & EXPIRED, f"charged expired order(s) {sorted(CHARGED & EXPIRED)}"


# About one example in 250 finds it (the worker must sleep until the clock passes the
# timeout): the search stops at the first, so the cap costs time only when it is late.
_SEARCH = settings(
    max_examples=1000, stateful_step_count=15, deadline=None, database=None,
    derandomize=True,  # the same search every run: found, or a bug to fix
    report_multiple_bugs=False, phases=[Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


def test_the_machine_freezes_a_worker_in_send_and_finds_the_late_charge() -> None:
    with pytest.raises(AssertionError, match="charged expired order") as info:
        run_state_machine_as_test(LateChargeMachine, settings=_SEARCH)
    notes = getattr(info.value, "__notes__", [])
    program = "\n".join(
        line for note in notes for line in note.splitlines() if line.startswith("state")
    )
    assert "point='in_send'" in program, program
    with pytest.raises(AssertionError, match="charged expired order"):  # runs as printed
        exec(program, {"LateChargeMachine": LateChargeMachine})
