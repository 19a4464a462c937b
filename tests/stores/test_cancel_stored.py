"""A cancel of a running job is stored when it is answered, not when the step ends.

The runner stops the job before its next step and saves it CANCELLED; if its worker
dies first (here: a shutdown that does not wait for the step, after which nothing of
that worker is stored), the worker that takes the case over must cancel the job, not
run it on from its last save.
"""

import threading

import pytest
from bounds import TIMEOUT, wait_until
from flows import setter

from actors import CancelOutcome, JobState, Mediator, Sequential, Workflow

STARTED = threading.Event()
RELEASE = threading.Event()


def slow(data):
    STARTED.set()
    RELEASE.wait(TIMEOUT)  # the step the cancel comes during
    data["a"] = True


FLOW = Workflow("slow", [Sequential("a", slow, next="b"), Sequential("b", setter("b"))], "a")


@pytest.fixture
def url(make_sql_store):
    STARTED.clear()
    RELEASE.clear()
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def worker(url):
    return Mediator([FLOW], store=url, owner="w1", poll_interval=0.02, lease_seconds=5.0)


def test_a_cancel_answered_while_the_step_ran_holds_after_the_worker_died(url):
    first = worker(url)
    try:
        first.schedule("slow", {}, job_id="c1")
        assert STARTED.wait(TIMEOUT)
        assert first.cancel("c1") is CancelOutcome.CANCELLED
    finally:
        first.shutdown(drain=False, timeout=0.05)  # the step still runs: as if it died
        RELEASE.set()  # its save is refused: the store is closed
    with worker(url) as second:  # the same name: it takes its cases back at once
        wait_until(lambda: second.get_job("c1").state is JobState.CANCELLED)
        job = second.get_job("c1")
    assert job.step == "a" and "b" not in job.data  # nothing after the step ran
    assert job.error == "cancelled"


LAST = Workflow("last", [Sequential("a", slow)], "a")


def test_a_cancel_answered_while_the_last_step_ran_ends_the_job_cancelled(url):
    # As after any other step: the answer was CANCELLED, so the job ends CANCELLED with
    # the step's work saved. It ended DONE, its error "cancelled" (the handle) or none.
    with Mediator([LAST], store=url) as mediator:
        handle = mediator.schedule("last", {}, job_id="l1")
        assert STARTED.wait(TIMEOUT)
        assert mediator.cancel("l1") is CancelOutcome.CANCELLED
        RELEASE.set()
        ended = handle.result(timeout=TIMEOUT)
        stored = mediator.get_job("l1")
    for job in (ended, stored):
        assert job.state is JobState.CANCELLED, job
        assert job.error == "cancelled" and job.data == {"a": True} and job.step == "a"
