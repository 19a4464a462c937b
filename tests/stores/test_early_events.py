"""An event that comes after a park is stored but before the Scheduler heard of it.

A runner stores a job's park, then reports it. An event in between used to find no job
waiting on it (``UNKNOWN``; ``ELSEWHERE`` on a shared store) although the store showed the
job waiting. The store here pauses the runner right after it stored the park, so the event
lands in that window every time.
"""

import threading

from bounds import TIMEOUT

from actors import DeferredChoice, EventOutcome, JobState, Mediator, Sequential, Workflow


def _stepwise(make_store):
    """A store that commits each save as it is made (the window exists only so)."""
    return make_store() if make_store.kind == "memory" else make_store(commit="step")


def _pausing(store):
    """``store``, made to hold the runner just after it stores a park at step "which"."""
    paused, go = threading.Event(), threading.Event()

    class Pausing(type(store)):
        def save(self, job):
            super().save(job)
            if job.state is JobState.WAITING and job.step == "which" and not paused.is_set():
                paused.set()  # stored, and its report not sent yet
                assert go.wait(TIMEOUT)

    store.__class__ = Pausing
    return store, paused, go


def _choice():
    return Workflow(
        "checkout",
        start="which",
        steps=[
            DeferredChoice(
                "which",
                events={"paid": "ship", "cancelled": "refund"},
                on_event=lambda data, name, payload: data.update(event=name, payload=payload),
            ),
            Sequential("ship", lambda data: data.update(shipped=True)),
            Sequential("refund", lambda data: data.update(refunded=True)),
        ],
    )


def test_an_event_in_the_moment_after_a_park_was_stored_is_delivered(make_store):
    store, paused, go = _pausing(_stepwise(make_store))
    with Mediator([_choice()], runners=1, store=store) as mediator:
        handle = mediator.schedule("checkout", {})
        assert paused.wait(TIMEOUT)
        base = f"{handle.job_id}/which"
        assert store.get(handle.job_id).state is JobState.WAITING
        try:
            assert mediator.receive_event(f"{base}/paid", "card") is EventOutcome.DELIVERED
            assert mediator.receive_event(f"{base}/paid", "again") is EventOutcome.DUPLICATE
            assert mediator.receive_event(f"{base}/cancelled", None) is EventOutcome.LATE
            # Delivered means stored: the event is in the job's row before the report.
            assert store.get(handle.job_id).state is JobState.READY
        finally:
            go.set()
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data == {"event": "paid", "payload": "card", "shipped": True}


def test_an_event_for_a_step_the_job_has_not_reached_is_still_unknown(make_store):
    store, paused, go = _pausing(_stepwise(make_store))
    with Mediator([_choice()], runners=1, store=store) as mediator:
        handle = mediator.schedule("checkout", {})
        assert paused.wait(TIMEOUT)
        try:
            outcome = mediator.receive_event(f"{handle.job_id}/elsewhere/paid", 1)
        finally:
            go.set()
        # This worker holds the job (on a shared store too): not ELSEWHERE, just UNKNOWN.
        assert outcome is EventOutcome.UNKNOWN
        assert mediator.receive_event(f"{handle.job_id}/which/paid", 2) is EventOutcome.DELIVERED
        assert handle.result(timeout=TIMEOUT).data["payload"] == 2
