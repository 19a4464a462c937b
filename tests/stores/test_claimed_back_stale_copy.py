"""A case lost and claimed back while a runner is still inside its step runs that step once.

A worker whose leases lapsed (frozen, or the store out of reach or locked past the lease)
drops the cases another worker took meanwhile, but a runner inside one of their steps
finishes it. If the case is free again (the other worker released it, or its own lease
lapsed) and this worker claims it back before that runner is done, the claimed records
must wait for it: they started the job again on another runner beside the stale copy,
whose report was then taken as the job's (found by holding a SQLite file's write lock
past the lease under three workers: a step ran twice on one worker, 0.3 s apart).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from leftovers import leftovers, wait_for_nothing_kept

from actors import (
    EventOutcome,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    StoreError,
    Workflow,
    enqueue,
)


class _HeldCase:
    """Case c1 of a one-step flow whose step stays in until ``release``, on worker A's store.

    A's lease renewals fail while ``down`` is set, and each renewal that gets through sets
    the events in ``beats`` (then left set).
    """

    def __init__(
        self, make_sql_store, *, then: bool = False, asks: bool = False, **options
    ) -> None:
        self.entered: list[str] = []
        self.after: list[str] = []  # the jobs that ran step "after" (``then``: c1 goes on to it)
        self.replies: list[str] = []  # ``asks``: "hold" sends a request, then "ask" does
        self.asked = threading.Event()
        self.first_in = threading.Event()
        self.release = threading.Event()
        self.down = threading.Event()
        self.beats: list[threading.Event] = []
        steps: list[Any] = [Sequential("hold", self._hold, next="after" if then else None)]
        if asks:  # c1 stays in the store's end of the slice that stores its park at "hold"
            steps = [
                RequestReaction(
                    "hold", send=lambda data, ctx: None, on_reply=self._reply, next="ask"
                ),
                RequestReaction(
                    "ask", send=lambda data, ctx: self.asked.set(), on_reply=self._reply
                ),
            ]
        if then:
            steps.append(Sequential("after", lambda data, ctx: self.after.append(ctx.job_id)))
        self.flow = Workflow("slow", start="hold", steps=steps)
        self.store = make_sql_store(**options)
        if asks:
            end_slice = self.store.end_slice

            def parking(*args: Any) -> None:
                if not self.first_in.is_set() and any(
                    frame.name == "_request" for frame in traceback.extract_stack()
                ):
                    self._hold({}, None)
                end_slice(*args)

            self.store.end_slice = parking
        self._renew = self.store.heartbeat
        self.store.heartbeat = self._heartbeat
        self.other = make_sql_store()
        enqueue(self.other, self.flow, {}, job_id="c1")

    def on_leaving(self, mediator: Mediator, then: Callable[[], None]) -> threading.Event:
        """Call ``then`` once, on c1's runner as it leaves c1 after ``release``.

        Its reports are not told yet. The event returned is set then.
        """
        window = threading.Event()
        channel = mediator._engine.channel
        real_done = channel.done

        def done(job, runner) -> None:
            real_done(job, runner)
            if job.id == "c1" and self.release.is_set() and not window.is_set():
                window.set()
                then()

        channel.done = done
        return window

    def _reply(self, data, reply) -> None:
        self.replies.append(reply)

    def renewals(self, count: int) -> None:
        """Wait for ``count`` renewals to get through, one after another."""
        for _ in range(count):
            beat = threading.Event()
            self.beats.append(beat)
            assert beat.wait(TIMEOUT), "no renewal came"

    def _hold(self, data, ctx) -> None:
        self.entered.append("c1" if ctx is None else ctx.job_id)
        self.first_in.set()
        self.release.wait(TIMEOUT)

    def _heartbeat(self, owner, now, lease_seconds) -> None:
        if self.down.is_set():
            error = StoreError("the database cannot be reached (test)")
            error.blames_job = False
            raise error
        self._renew(owner, now, lease_seconds)
        for beat in list(self.beats):
            beat.set()

    def mediator(self) -> Mediator:
        return Mediator([self.flow], runners=2, store=self.store, owner="A", poll_interval=0.2,
                        lease_seconds=1.0)  # fmt: skip

    def drop_and_claim_back(self) -> None:
        """c1's step is in; A's lease lapses, B takes c1 and frees it, A claims it back."""
        self.taken_over()
        self.other.release("B")  # B stops: c1 is free again
        self.down.clear()
        self.claimed_back()

    def taken_over(self) -> None:
        """c1's step is in; A's lease lapses and B takes c1 (A's renewals still fail)."""
        assert self.first_in.wait(TIMEOUT), "c1's step never started"
        self.down.set()  # A's renewals fail: its lease runs out while the step runs
        wait_until(
            lambda: self.other.claim("B", now=time.time(), lease_seconds=60.0, limit=1),
            "B to take c1 over",
        )

    def claimed_back(self) -> None:
        wait_until(lambda: self.other.lease_owners(["c1"]).get("c1") == "A", "A to claim c1 back")


def test_a_case_dropped_and_claimed_back_while_its_step_runs_runs_it_once(make_sql_store):
    """ABA: the case leaves the worker while a runner is inside its step, and comes back.

    Worker A's renewals fail past its lease; B takes the case over and releases it; A's
    next renewal finds the case taken and drops it, and its claim takes it back at once
    (it is free). The runner is still inside the step of the copy A dropped: the copy
    A claimed back must not run that step beside it.
    """
    case = _HeldCase(make_sql_store)
    with case.mediator() as mediator:
        case.drop_and_claim_back()
        # A second copy of c1 would start on the idle runner now; c2 shows when it could.
        mediator.schedule("slow", {}, job_id="c2")
        wait_until(lambda: "c2" in case.entered or case.entered.count("c1") > 1, "c2 to start")
        assert case.entered.count("c1") == 1, f"c1's step ran again beside itself: {case.entered}"
        case.release.set()
        wait_until(lambda: case.other.get("c1").state is JobState.DONE, "A to end c1")
    assert case.entered.count("c1") == 1


def test_a_claimed_back_case_waits_for_its_stale_copys_slice_to_be_stored(make_sql_store):
    """The stale copy's runner is done, but the writer has not stored its slice yet.

    With group commit the runner leaves the step before the store's writer thread holds
    its save: the copy claimed back, read from the store then, would run the step again
    (found under load: the writer's commit came after the next poll's read).
    """
    case = _HeldCase(make_sql_store)
    writer, name = case.store._writer, "_store_group"
    real_group = getattr(writer, name)
    held = threading.Event()

    def store_group(slices):
        if case.release.is_set() and any(job.id == "c1" for p in slices for *_, job in p.rows):
            # Two renewals, so a whole poll round (renewal, then the claimed records
            # let go) passes while c1's save is not stored.
            case.renewals(2)
            held.set()
        return real_group(slices)

    setattr(writer, name, store_group)
    with case.mediator() as mediator:
        case.drop_and_claim_back()
        mediator.schedule("slow", {}, job_id="c2")
        wait_until(lambda: "c2" in case.entered, "c2 to start")
        case.release.set()
        wait_until(lambda: case.other.get("c1").state is JobState.DONE, "A to end c1")
        assert held.is_set(), "the writer never held c1's slice"
    assert case.entered.count("c1") == 1, f"c1's step ran again: {case.entered}"


@pytest.mark.parametrize("commit", ["step", "group"])
def test_a_stale_copys_report_told_after_it_left_its_runner_is_not_taken_as_the_jobs(
    make_sql_store, commit
):
    """The stale copy left its runner and its report is on its way.

    Its step saved, it finds the case lost and hands the job back unrun
    (``LeaseUnvouched``); a poll between the runner leaving (``channel.done``; with group
    commit, the writer's callback taking the stored slice out of ``storing``, then
    counting and telling its reports) and its report reaching the Scheduler let the
    claimed-back case go (read again, it resumed at the next step), and the report,
    come after, was taken as the job's: the job was handed back a second time and its
    next step ran twice.
    """
    case = _HeldCase(make_sql_store, then=True, commit=commit)
    with case.mediator() as mediator:
        # A whole poll round passes before the reports leave.
        if commit == "step":
            window = case.on_leaving(mediator, lambda: case.renewals(2))
        else:
            window = _on_writers_count(case, mediator, lambda: case.renewals(2))
        case.drop_and_claim_back()
        case.release.set()
        wait_until(lambda: case.other.get("c1").state is JobState.DONE, "A to end c1")
        assert window.is_set(), "the stale copy never left its runner"
    assert case.entered.count("c1") == 1, f"c1's step ran again: {case.entered}"
    assert case.after == ["c1"], f"c1's next step did not run once: {case.after}"


def _on_writers_count(
    case: _HeldCase, mediator: Mediator, then: Callable[[], None]
) -> threading.Event:
    """Call ``then`` once, on the writer, as it counts the stale copy's reports.

    That is the first slice stored after ``release``: out of ``storing``, its reports
    not told yet. The event returned is set then.
    """
    window = threading.Event()
    channel = mediator._engine.channel

    class Sent(list):
        def __setitem__(self, index, value) -> None:
            super().__setitem__(index, value)
            if index == -1 and case.release.is_set() and not window.is_set():
                window.set()
                then()

    channel.sent = Sent(channel.sent)
    return window


class _Told(logging.Handler):
    """Sets ``handled`` once the Scheduler dealt with a stale copy's ``CaseLost`` for c1.

    Taken as the job's, it dropped c1 a second time (the case's second drop logged);
    else it was ignored as a stale copy's.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.drops = 0
        self.handled = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        said = record.getMessage()
        if said.startswith("case c1 is another worker's now"):
            self.drops += 1
        if self.drops == 2 or said.startswith("ignoring a report on job c1: its runner held"):
            self.handled.set()


def test_a_stale_copys_case_lost_told_after_the_case_came_back_does_not_drop_it(make_sql_store):
    """The stale copy's save was fenced (B held c1): it tells ``CaseLost`` once it left its runner.

    In between B let c1 go and A claimed it back, and resumed it at once (no runner held
    a stale copy any more): the late ``CaseLost`` then dropped the case A held, its
    lease renewed by A ever after, so no worker ran it again; c1 never ended.
    """
    case = _HeldCase(make_sql_store, then=True, commit="step")
    told = _Told()
    logger = logging.getLogger("actors")
    logger.addHandler(told)
    level = logger.level
    logger.setLevel(logging.DEBUG)

    def claimed_back() -> None:  # the stale copy's save was fenced: CaseLost is to be told
        case.release.clear()  # the copy claimed back waits in its step
        case.other.release("B")
        case.claimed_back()

    try:
        with case.mediator() as mediator:
            case.on_leaving(mediator, claimed_back)
            case.taken_over()
            case.down.clear()
            case.renewals(2)  # A's renewal found c1 B's and dropped it
            case.release.set()
            assert told.handled.wait(TIMEOUT), "the stale copy's CaseLost never came"
            case.release.set()
            wait_until(lambda: case.other.get("c1").state is JobState.DONE, "A to end c1")
    finally:
        logger.removeHandler(told)
        logger.setLevel(level)
    assert case.after == ["c1"], f"c1's next step did not run once: {case.after}"


def test_an_event_for_a_stale_copys_park_is_taken_once(make_sql_store):
    """The stale copy parked, and the reply came before its report: it was taken twice.

    The stale copy was storing its park when the case was lost; the reply came after
    the park was stored and before its report, so it was saved with the job as an early
    one, kept for that report. The report was ignored (the case lost) and the case,
    resumed from the store with the reply in it, ran on; at its next park the early
    record, still kept, was taken as the reply to that park: the job went back to the
    first park and took its reply a second time.
    """
    case = _HeldCase(make_sql_store, asks=True, commit="slice")
    sent = threading.Event()
    with case.mediator() as mediator:
        window = case.on_leaving(mediator, lambda: sent.wait(TIMEOUT))
        case.drop_and_claim_back()
        case.release.set()
        assert window.wait(TIMEOUT), "the stale copy never left its runner"
        assert mediator.receive_event("c1/hold", "first") is EventOutcome.DELIVERED
        sent.set()
        assert case.asked.wait(TIMEOUT), "c1 never went on to ask"
        wait_until(lambda: case.other.get("c1").state is JobState.WAITING, "c1 to park at ask")
        assert mediator.receive_event("c1/ask", "second") is EventOutcome.DELIVERED
        wait_until(lambda: case.other.get("c1").state is JobState.DONE, "A to end c1")
    assert case.replies == ["first", "second"]


def test_a_case_lost_for_good_while_its_step_runs_leaves_nothing_of_it_behind(make_sql_store):
    """B keeps c1: A, whose runner was inside c1's step at the drop, keeps nothing of it.

    A noted the jobs its runners were inside at the drop, for a claim back to wait on
    (``StaleCopies``); with no claim back, the note stayed for good, one per case lost
    while any runner was busy: a worker losing cases for months grew without bound.
    """
    case = _HeldCase(make_sql_store)
    with case.mediator() as mediator:
        kept = leftovers(mediator)
        case.taken_over()
        case.down.clear()
        wait_until(lambda: "stale.cases" in kept(), "A to drop c1 as its step runs")
        assert mediator.receive_event("c1/hold", "late") is not EventOutcome.DELIVERED
        case.release.set()
        wait_until(lambda: not mediator._engine.channel.running, "the stale copy to leave")
        case.renewals(2)  # a whole poll round after the runner left
        wait_for_nothing_kept(kept)
    assert case.other.lease_owners(["c1"]).get("c1") == "B"  # B keeps it, untouched by A
