"""A store that fails for a while stops no Scheduler: what it could not store waits for it.

A real, threaded Mediator on a virtual clock and a memory store whose saves and reads
fail while ``down`` (a database server restarting). The Scheduler's own saves fail: a
timer's firing, the fault reply of a request whose send failed. The job is taken back
as last saved at the first poll after the store answers again, and the case ends as it
would have; the Scheduler never dies of the failure. (The PostgreSQL worker's outage,
with runners' saves failing too: ``tests/stores/test_postgres_outage.py``.)
"""

from __future__ import annotations

import logging

from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, RequestReaction, Sequential, StoreError, Wait, Workflow
from actors.stores import MemoryStore

POLL = 1.0  # the Mediator's poll interval: a store of this process is polled while owed


def _settling_poll_set(clock, mediator, after: float) -> None:
    """Wait until the Scheduler set a poll past ``after`` (to settle what it owes), or died."""
    wait_until(
        lambda: (clock.next_alarm() or 0.0) > after or not mediator.scheduler.is_alive(),
        "a poll to settle what the store is owed",
    )
    assert mediator.scheduler.is_alive(), "the Scheduler died of the store's failure"


class DownStore(MemoryStore):
    """A memory store whose saves and reads fail while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def save(self, job):
        if self.down:
            raise StoreError("memory://: cannot save: connection refused")
        super().save(job)

    def load(self, job_id):
        if self.down:
            raise StoreError("memory://: cannot load: connection refused")
        return super().load(job_id)


def test_a_timer_whose_firing_was_not_stored_fires_again_once_the_store_answers(
    clock, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    store = DownStore()
    flow = Workflow(
        "nap",
        start="nap",
        steps=[
            Wait("nap", duration=10.0, next="after"),
            Sequential("after", lambda d: {**d, "woke": True}),
        ],
    )
    with Mediator([flow], runners=1, store=store, clock=clock, poll_interval=POLL) as mediator:
        handle = mediator.schedule("nap", {})
        due = clock.wait_for_alarm(TIMEOUT)  # parked until its timer
        store.down = True
        clock.advance(due - clock.now())  # the timer fires; its save fails
        _settling_poll_set(clock, mediator, due)
        store.down = False
        clock.advance(POLL)  # taken back as saved: overdue, its timer fires at once
        job = handle.result(timeout=TIMEOUT)
    assert (job.state, job.data) == (JobState.DONE, {"woke": True})
    assert "cannot be reached" in caplog.text
    assert "is reachable again" in caplog.text


def test_the_fault_reply_of_a_failed_send_is_delivered_once_the_store_answers(clock) -> None:
    store = DownStore()

    def send(data, ctx):
        store.down = True  # the park is stored; the fault reply's save is not
        raise ConnectionError("the mail server is down")

    flow = Workflow(
        "ask",
        start="ask",
        steps=[
            RequestReaction(
                "ask",
                send=send,
                on_reply=lambda d, r: {**d, "reply": r},
                on_fault=lambda d, e: {**d, "fault": e},
            ),
        ],
    )
    start = clock.now()
    with Mediator([flow], runners=1, store=store, clock=clock, poll_interval=POLL) as mediator:
        handle = mediator.schedule("ask", {})
        _settling_poll_set(clock, mediator, start)
        store.down = False
        clock.advance(POLL)
        job = handle.result(timeout=TIMEOUT)
    assert (job.state, job.data) == (
        JobState.DONE,
        {"fault": "ConnectionError: the mail server is down"},
    )
