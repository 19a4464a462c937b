"""A failed attempt's changes to the data stay, on every store.

docs/how-to/events-and-timeouts.md: the data is saved as the attempt left it (with the
retry's timer), and the next attempt, the fault path, and an operator's ``jobs retry``
start from it; a task that appends to a list and then fails appends again.
"""

from __future__ import annotations

from typing import Any

from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Retry, Sequential, StepContext, Workflow
from actors.admin import Admin
from actors.testing import VirtualClock


def appends_then_fails(fails: int) -> Any:
    def call(data: dict[str, Any], ctx: StepContext) -> None:
        data.setdefault("tries", []).append(ctx.attempt)
        if ctx.attempt <= fails:
            raise ConnectionError(f"busy {ctx.attempt}")

    return call


def flow(task: Any, retry: Retry, **options: Any) -> Workflow:
    return Workflow(
        "appends",
        start="call",
        steps=[
            Sequential("call", task, next="after", retry=retry, **options),
            Sequential("after", lambda data: None),
        ],
    )


def test_the_next_attempt_starts_from_the_data_the_failed_one_saved(
    make_store: Any, clock: VirtualClock
) -> None:
    store = make_store()
    task = appends_then_fails(2)
    with Mediator([flow(task, Retry(attempts=3, backoff=10))], store=store, clock=clock) as m:
        handle = m.schedule("appends", {}, job_id="a1")
        wait_until(lambda: m.get_job("a1").attempt == 2, "a1 to wait for attempt 2")
        waiting = m.get_job("a1")  # as saved, with the retry's timer: data of its own
        waiting_data = waiting.data
        clock.advance(10)
        wait_until(lambda: m.get_job("a1").attempt == 3, "a1 to wait for attempt 3")
        clock.advance(20)
        done = handle.result(timeout=TIMEOUT)
    assert (waiting.state, waiting_data) == (JobState.WAITING, {"tries": [1]})
    assert (done.state, done.data) == (JobState.DONE, {"tries": [1, 2, 3]})


def test_the_fault_path_and_an_operator_s_retry_start_from_it(make_store: Any) -> None:
    store = make_store()
    seen: list[list[int]] = []

    def note(data: dict[str, Any], error: BaseException) -> None:
        seen.append(list(data["tries"]))

    handled = flow(appends_then_fails(9), Retry(attempts=2), on_fault=note, fault_next="after")
    unhandled = Workflow(
        "faults",
        start="call",
        steps=[Sequential("call", appends_then_fails(2), retry=Retry(attempts=2))],
    )
    with Mediator([handled, unhandled], store=store) as m:
        assert m.schedule("appends", {}).result(timeout=TIMEOUT).state is JobState.DONE
        faulted = m.schedule("faults", {}, job_id="f1").result(timeout=TIMEOUT)
        assert (faulted.state, faulted.data) == (JobState.FAULTED, {"tries": [1, 2]})
        Admin.for_mediator(m, operator="ops").retry("f1")  # attempt 3 succeeds
        wait_until(lambda: m.get_job("f1").state is JobState.DONE, "f1 to end after its retry")
        again = m.get_job("f1")
    assert seen == [[1, 2]]  # on_fault saw both attempts' appends
    assert again.data["tries"][:2] == [1, 2]  # the retry ran on from the faulted data
    assert len(again.data["tries"]) == 3


def test_an_operator_s_retry_that_fails_again_faults_without_more_automatic_attempts(
    make_store: Any,
) -> None:
    """docs/how-to/operations.md: a ``Retry`` counts its attempts from the retried one."""
    keys: list[str] = []

    def always_busy(data: dict[str, Any], ctx: StepContext) -> None:
        keys.append(ctx.idempotency_key)
        raise ConnectionError(f"busy {ctx.attempt}")

    busy = Workflow(
        "busy",
        start="call",
        steps=[Sequential("call", always_busy, retry=Retry(attempts=2, backoff=0))],
    )
    with Mediator([busy], store=make_store()) as m:
        first = m.schedule("busy", {}, job_id="b1").result(timeout=TIMEOUT)
        assert (first.state, first.attempt) == (JobState.FAULTED, 2)
        Admin.for_mediator(m, operator="ops").retry("b1")
        wait_until(lambda: len(keys) == 3, "the retried attempt to run")
        wait_until(lambda: m.get_job("b1").state is JobState.FAULTED, "b1 to fault again")
        again = m.get_job("b1")
    assert keys == ["b1:call:1", "b1:call:2", "b1:call:3"]  # a new key, run once
    assert again.attempt == 3
    assert "busy 3" in (again.error or "")
