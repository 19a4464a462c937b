"""A store that fails for a while stops no Scheduler: what it could not store waits for it.

A real, threaded Mediator on a virtual clock and a memory store whose saves and reads
fail while ``down`` (a database server restarting). The Scheduler's own saves fail: a
timer's firing, the fault reply of a request whose send failed. The job is taken back
as last saved at the first poll after the store answers again, and the case ends as it
would have; the Scheduler never dies of the failure. (The PostgreSQL worker's outage,
with runners' saves failing too: ``tests/stores/test_postgres_outage.py``.)
"""

from __future__ import annotations

import itertools
import logging
import math
import threading

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
    """A memory store whose saves and reads fail while ``down``, as an unreachable database's."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def save(self, job):
        if self.down:
            raise _refused("save")
        super().save(job)

    def load(self, job_id):
        if self.down:
            raise _refused("load")
        return super().load(job_id)


def _refused(what: str) -> StoreError:
    error = StoreError(f"memory://: cannot {what}: connection refused")
    error.blames_job = False  # as the SQL stores say of a database they cannot reach
    return error


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
    # The outage's one WARNING; the job taken back is counted in its INFO line, not
    # another WARNING of its own.
    loud = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(level, text.split(" (")[0]) for level, text in loud] == [
        ("WARNING", "the store memory:// cannot be reached")
    ]
    assert "; 1 job(s) resume from their last saved step" in caplog.text


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


class FullStore(MemoryStore):
    """A memory store that creates cases and reads, but refuses runners' saves while ``full``.

    As a SQLite file on a file system with a few KiB left: a small write gets through (a
    case's creation here, a lease renewal there), a runner's slice does not.
    """

    def __init__(self) -> None:
        super().__init__()
        self.full = False
        self.refused = 0

    def save(self, job):
        if self.full:
            self.refused += 1
            error = StoreError("memory://: cannot save: database or disk is full")
            error.blames_job = False  # the store's doing, as SQLite's full file is
            raise error
        super().save(job)


def test_a_store_that_answers_but_refuses_slices_runs_one_job_again_a_poll(clock) -> None:
    """Not every job at every poll: one at a time, until a slice is stored; then the rest."""
    cases, polls = 10, 5
    store = FullStore()
    runs = itertools.count(1)
    ran = [0]

    def tick(data):
        ran[0] = next(runs)  # the runners' steps take turns: one counter, no lost update
        return data

    flow = Workflow("tick", start="tick", steps=[Sequential("tick", tick)])

    def all_back_in_debt(mediator) -> None:
        """Every run so far reached its refused save, and the poll after it is set."""
        wait_until(
            lambda: (
                store.refused == ran[0]
                and (clock.next_alarm() or 0.0) > clock.now()
                and mediator.stats().running == 0
                and mediator.stats().ready == 0
            ),
            "the runs to end in refused saves",
        )

    with Mediator([flow], runners=2, store=store, clock=clock, poll_interval=POLL) as mediator:
        store.full = True
        handles = [mediator.schedule("tick", {}) for _ in range(cases)]
        wait_until(lambda: store.refused == cases, "every case's first save refused")
        all_back_in_debt(mediator)
        for _ in range(polls):
            clock.advance(POLL)  # the store answers the poll: one job is taken back
            all_back_in_debt(mediator)
        assert ran[0] == cases + polls  # every job at every poll: cases * (1 + polls)
        store.full = False
        clock.advance(POLL)  # the one taken back is stored: the others go at once
        jobs = [handle.result(timeout=TIMEOUT) for handle in handles]
    assert {job.state for job in jobs} == {JobState.DONE}
    assert ran[0] == 2 * cases + polls


def test_jobs_taken_back_a_few_at_a_time_all_come_back_before_any_slice_is_stored(clock) -> None:
    """Steps that run on for long store nothing for a while: twice as many at each poll."""
    cases = 6
    store = FullStore()
    started = []
    lock = threading.Lock()
    go_on = threading.Event()

    def slow(data):
        if not store.full:  # once the store writes again: runs until the test lets it go
            with lock:
                started.append(1)
            assert go_on.wait(TIMEOUT)
        return data

    flow = Workflow("slow", start="slow", steps=[Sequential("slow", slow)])
    taken_back = []
    with Mediator([flow], runners=cases, store=store, clock=clock, poll_interval=POLL) as mediator:
        store.full = True
        handles = [mediator.schedule("slow", {}) for _ in range(cases)]
        wait_until(
            lambda: store.refused == cases and mediator.stats().running == 0,
            "every case's first save refused",
        )
        store.full = False
        for _ in range(3):
            clock.advance(POLL)
            wait_until(
                lambda: (
                    (clock.next_alarm() or math.inf) > clock.now()  # none once all are back
                    and mediator.stats().running == len(started)
                    and mediator.stats().ready == 0
                ),
                "the jobs taken back to start",
            )
            taken_back.append(len(started))
        go_on.set()
        jobs = [handle.result(timeout=TIMEOUT) for handle in handles]
    assert taken_back == [1, 3, 6]  # 1, then 2, then the 3 left (of 4 allowed)
    assert {job.state for job in jobs} == {JobState.DONE}
