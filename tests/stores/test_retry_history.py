"""A retried step's failures, as every store records and shows them.

The save that schedules a retry carries the failed attempt's reason (the text its fault
would carry) into the step history, and the job shows it as its last failure while it
waits; an attempt that succeeds clears it, and a cancel replaces it.
"""

import threading

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Retry, Sequential, StepContext, Workflow
from actors.admin import Admin
from actors.testing import VirtualClock


def _flaky(fails: int, error: type[Exception] = ValueError):
    def call(data, ctx: StepContext):
        if ctx.attempt <= fails:
            raise error(f"boom {ctx.attempt}")

    return call


def _flow(task, retry: Retry, **options) -> Workflow:
    return Workflow(
        "retried",
        start="call",
        steps=[
            Sequential("call", task, next="after", retry=retry, **options),
            Sequential("after", lambda data: None),
        ],
    )


def _parked(m, job_id, attempt):
    """Wait until ``job_id`` is stored WAITING for ``attempt``; its snapshot then.

    A store's own alarms (polls, leases) share the virtual clock, so the retry's timer
    is told by the job's saved state, not by the next alarm.
    """
    wait_until(
        lambda: (m.get_job(job_id).state, m.get_job(job_id).attempt) == (JobState.WAITING, attempt),
        f"job {job_id} to wait for attempt {attempt}",
    )
    return m.get_job(job_id)


def _rows(store, job_id):
    return [(r.step, r.attempt, r.state, r.error) for r in store.step_history(job_id)]


def test_each_retry_saves_the_reason_its_attempt_failed(make_store):
    store = make_store()
    with Mediator([_flow(_flaky(2), Retry(attempts=3))], runners=1, store=store) as m:
        job = m.schedule("retried", {}).result(timeout=TIMEOUT)
        entries = Admin(store).history(job.id)
        rows = _rows(store, job.id)
    assert job.state is JobState.DONE
    assert job.error is None  # the retry succeeded: nothing failed in the end
    first = "step 'call': ValueError: boom 1 (attempt 1)"
    second = "step 'call': ValueError: boom 2 (attempt 2)"
    assert rows[1:] == [
        ("call", 2, "running", first),
        ("call", 3, "running", second),
        ("after", 1, "running", None),
        ("after", 1, "done", None),
    ]
    ran = [(e.step, e.attempt, e.error) for e in entries if e.kind == "step"]
    assert ran == [
        ("call", 1, first),
        ("call", 2, second),
        ("call", 3, None),
        ("after", 1, None),
    ]


def test_a_job_waiting_to_retry_shows_its_last_failure_until_an_attempt_succeeds(
    make_store, clock: VirtualClock
):
    store = make_store()
    flow = _flow(_flaky(2, ConnectionError), Retry(attempts=3, backoff=10))
    with Mediator([flow], runners=1, store=store, clock=clock) as m:
        handle = m.schedule("retried", {})
        waiting = _parked(m, handle.job_id, 2)
        found = Admin(store).jobs(error="boom 1").items
        clock.advance(10)
        again = _parked(m, handle.job_id, 3)
        clock.advance(20)
        job = handle.result(timeout=TIMEOUT)
        rows = _rows(store, job.id)
    assert (waiting.state, waiting.attempt) == (JobState.WAITING, 2)
    assert waiting.error == "step 'call': ConnectionError: boom 1 (attempt 1)"
    assert [j.id for j in found] == [job.id]
    assert (again.state, again.attempt) == (JobState.WAITING, 3)
    assert again.error == "step 'call': ConnectionError: boom 2 (attempt 2)"
    assert (job.state, job.step, job.attempt, job.error) == (JobState.DONE, "after", 1, None)
    waits = [row for row in rows if row[2] == "waiting"]
    assert waits == [
        ("call", 2, "waiting", waiting.error),
        ("call", 3, "waiting", again.error),
    ]
    assert rows[-1] == ("after", 1, "done", None)


def test_a_handled_fault_after_retries_goes_on_with_no_error(make_store):
    store = make_store()
    flow = _flow(_flaky(9), Retry(attempts=2), fault_next="after")
    with Mediator([flow], runners=1, store=store) as m:
        job = m.schedule("retried", {}).result(timeout=TIMEOUT)
        rows = _rows(store, job.id)
    assert (job.state, job.error) == (JobState.DONE, None)
    assert rows[1:] == [
        ("call", 2, "running", "step 'call': ValueError: boom 1 (attempt 1)"),
        ("after", 1, "running", None),  # the fault path took it: not failing any more
        ("after", 1, "done", None),
    ]


def test_used_up_retries_fault_with_the_last_attempts_reason(make_store):
    store = make_store()
    with Mediator([_flow(_flaky(9), Retry(attempts=2))], runners=1, store=store) as m:
        job = m.schedule("retried", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert job.error == "step 'call': ValueError: boom 2 (attempt 2)"


def test_a_retrys_reason_is_masked_like_a_faults(make_store):
    def leaky(data, ctx: StepContext):
        if ctx.attempt == 1:
            raise ConnectionError("cannot reach postgresql://app:hunter2@db/orders")

    store = make_store()
    with Mediator([_flow(leaky, Retry(attempts=2))], runners=1, store=store) as m:
        job = m.schedule("retried", {}).result(timeout=TIMEOUT)
        errors = [row[3] for row in _rows(store, job.id) if row[3] is not None]
    assert len(errors) == 1
    assert "hunter2" not in errors[0]
    assert "postgresql://app:" in errors[0]


def test_cancelling_a_job_waiting_to_retry_records_the_cancel_not_the_failure(
    make_store, clock: VirtualClock
):
    store = make_store()
    flow = _flow(_flaky(9), Retry(attempts=3, backoff=10))
    with Mediator([flow], runners=1, store=store, clock=clock) as m:
        handle = m.schedule("retried", {})
        assert _parked(m, handle.job_id, 2).error is not None  # its last failure
        m.cancel(handle.job_id)
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.CANCELLED
    assert job.error == "cancelled"


def test_cancelling_a_running_retry_records_the_cancel_not_the_failure(make_store):
    started, go = threading.Event(), threading.Event()

    def slow_then_fail(data, ctx: StepContext):
        if ctx.attempt == 2:
            started.set()
            assert go.wait(TIMEOUT)
        raise ValueError(f"boom {ctx.attempt}")

    store = make_store()
    with Mediator([_flow(slow_then_fail, Retry(attempts=3))], runners=1, store=store) as m:
        handle = m.schedule("retried", {})
        assert started.wait(TIMEOUT)  # attempt 2 runs: attempt 1's failure is on the job
        m.cancel(handle.job_id)
        go.set()  # it fails again: cancelled as it was, no attempt 3 is scheduled
        job = handle.result(timeout=TIMEOUT)
    assert (job.state, job.attempt) == (JobState.CANCELLED, 2)
    assert job.error == "cancelled"


@pytest.mark.parametrize("commit", ["each", "group"])
def test_an_operator_cancelling_a_stored_retry_records_the_cancel(
    make_sql_store, clock: VirtualClock, commit
):
    store = make_sql_store(commit=commit) if commit == "group" else make_sql_store()
    flow = _flow(_flaky(9), Retry(attempts=3, backoff=10))
    with Mediator([flow], runners=1, store=store, clock=clock) as m:
        job_id = m.schedule("retried", {}).job_id
        _parked(m, job_id, 2)
    with Admin(make_sql_store(), operator="alice") as admin:
        assert admin.job(job_id).state is JobState.WAITING
        assert admin.cancel(job_id).outcome == "cancelled"
        job = admin.job(job_id)
    assert job.state is JobState.CANCELLED
    assert job.error == "cancelled by alice"
