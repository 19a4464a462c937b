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

import threading
import time

from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Sequential, StoreError, Workflow, enqueue


class _HeldCase:
    """Case c1 of a one-step flow whose step stays in until ``release``, on worker A's store.

    A's lease renewals fail while ``down`` is set, and each renewal that gets through sets
    the events in ``beats`` (then left set).
    """

    def __init__(self, make_sql_store) -> None:
        self.entered: list[str] = []
        self.first_in = threading.Event()
        self.release = threading.Event()
        self.down = threading.Event()
        self.beats: list[threading.Event] = []
        self.flow = Workflow("slow", start="hold", steps=[Sequential("hold", self._hold)])
        self.store = make_sql_store()
        self._renew = self.store.heartbeat
        self.store.heartbeat = self._heartbeat
        self.other = make_sql_store()
        enqueue(self.other, self.flow, {}, job_id="c1")

    def _hold(self, data, ctx) -> None:
        self.entered.append(ctx.job_id)
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
        assert self.first_in.wait(TIMEOUT), "c1's step never started"
        self.down.set()  # A's renewals fail: its lease runs out while the step runs
        wait_until(
            lambda: self.other.claim("B", now=time.time(), lease_seconds=60.0, limit=1),
            "B to take c1 over",
        )
        self.other.release("B")  # B stops: c1 is free again
        self.down.clear()
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
            first, second = threading.Event(), threading.Event()
            case.beats.append(first)
            assert first.wait(TIMEOUT), "no renewal came"
            case.beats.append(second)
            assert second.wait(TIMEOUT), "no second renewal came"
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
