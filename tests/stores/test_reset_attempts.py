"""The attempt ``jobs retry --from STEP`` gives a step, with and without step history.

docs/how-to/durable-stores.md: with history, a step gets an attempt new to it, read from
its history; without (``history=False``), the job's next attempt if the job stands at that
step, and attempt 1 otherwise, so a step the job passed before runs with a key it had.
"""

from __future__ import annotations

from typing import Any

import pytest
from bounds import wait_until

from actors import JobState, Mediator, Sequential, StepContext, Workflow
from actors.admin import Admin


def _flow(keys: list[str]) -> Workflow:
    def note(data: Any, ctx: StepContext) -> None:
        keys.append(ctx.idempotency_key)

    def pay(data: Any, ctx: StepContext) -> None:
        keys.append(ctx.idempotency_key)
        raise RuntimeError("declined")

    return Workflow("order", [Sequential("a", note, next="b"), Sequential("b", pay)], "a")


def _faulted(store: Any, flow: Workflow) -> None:
    with Mediator([flow], store=store) as m:
        wait_until(lambda: m.get_job("o1").state is JobState.FAULTED, "o1 to fault again")


@pytest.mark.parametrize("history", [True, False])
def test_a_reset_numbers_the_step_s_attempt_as_the_guide_says(make_sql_store, history):
    keys: list[str] = []
    flow = _flow(keys)
    with Mediator([flow], store=make_sql_store(history=history)) as m:
        assert m.schedule("order", {}, job_id="o1").result(timeout=30).state is JobState.FAULTED
    with Admin(make_sql_store(history=history), operator="ops") as admin:
        admin.retry("o1", from_step="b")  # the job stands at b: its next attempt, either way
        assert (admin.job("o1").step, admin.job("o1").attempt) == ("b", 2)
    _faulted(make_sql_store(history=history), flow)
    with Admin(make_sql_store(history=history), operator="ops") as admin:
        admin.retry("o1", from_step="a")  # a step the job passed before
        assert admin.job("o1").attempt == (2 if history else 1)
    _faulted(make_sql_store(history=history), flow)
    again = "o1:a:2" if history else "o1:a:1"  # without history, a key "a" had already had
    # The steps after it start at attempt 1, as a loop's next pass does.
    assert keys == ["o1:a:1", "o1:b:1", "o1:b:2", again, "o1:b:1"]
