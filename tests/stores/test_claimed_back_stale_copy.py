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


def test_a_case_dropped_and_claimed_back_while_its_step_runs_runs_it_once(make_sql_store):
    """ABA: the case leaves the worker while a runner is inside its step, and comes back.

    Worker A's renewals fail past its lease; B takes the case over and releases it; A's
    next renewal finds the case taken and drops it, and its claim takes it back at once
    (it is free). The runner is still inside the step of the copy A dropped: the copy
    A claimed back must not run that step beside it.
    """
    entered: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def hold(data, ctx):
        entered.append(ctx.job_id)
        first_in.set()
        release.wait(TIMEOUT)

    slow = Workflow("slow", start="hold", steps=[Sequential("hold", hold)])
    store = make_sql_store()
    down = threading.Event()
    real_heartbeat = store.heartbeat

    def heartbeat(owner, now, lease_seconds):
        if down.is_set():
            error = StoreError("the database cannot be reached (test)")
            error.blames_job = False
            raise error
        real_heartbeat(owner, now, lease_seconds)

    store.heartbeat = heartbeat
    other = make_sql_store()
    enqueue(other, slow, {}, job_id="c1")
    with Mediator([slow], runners=2, store=store, owner="A", poll_interval=0.2,
                  lease_seconds=1.0) as mediator:  # fmt: skip
        assert first_in.wait(TIMEOUT), "c1's step never started"
        down.set()  # A's renewals fail: its lease runs out while the step runs
        wait_until(
            lambda: other.claim("B", now=time.time(), lease_seconds=60.0, limit=1),
            "B to take c1 over",
        )
        other.release("B")  # B stops: c1 is free again
        down.clear()
        wait_until(lambda: other.lease_owners(["c1"]).get("c1") == "A", "A to claim c1 back")
        # A second copy of c1 would start on the idle runner now; c2 shows when it could.
        mediator.schedule("slow", {}, job_id="c2")
        wait_until(lambda: "c2" in entered or entered.count("c1") > 1, "c2 to start")
        assert entered.count("c1") == 1, f"c1's step ran again beside itself: {entered}"
        release.set()
        wait_until(lambda: other.get("c1").state is JobState.DONE, "A to end c1")
    assert entered.count("c1") == 1


def test_a_claimed_back_case_waits_for_its_stale_copys_slice_to_be_stored(make_sql_store):
    """The stale copy's runner is done, but the writer has not stored its slice yet.

    With group commit the runner leaves the step before the store's writer thread holds
    its save: the copy claimed back, read from the store then, would run the step again
    (found under load: the writer's commit came after the next poll's read).
    """
    entered: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def hold(data, ctx):
        entered.append(ctx.job_id)
        first_in.set()
        release.wait(TIMEOUT)

    slow = Workflow("slow", start="hold", steps=[Sequential("hold", hold)])
    store = make_sql_store()
    down = threading.Event()
    beats: list[threading.Event] = []  # set by the heartbeats after the writer holds c1's slice
    real_heartbeat = store.heartbeat

    def heartbeat(owner, now, lease_seconds):
        if down.is_set():
            error = StoreError("the database cannot be reached (test)")
            error.blames_job = False
            raise error
        real_heartbeat(owner, now, lease_seconds)
        for beat in list(beats):
            beat.set()

    store.heartbeat = heartbeat
    writer, name = store._writer, "_store_group"
    real_group = getattr(writer, name)
    held = threading.Event()

    def store_group(slices):
        if release.is_set() and any(job.id == "c1" for p in slices for *_, job in p.rows):
            # Two renewals, so a whole poll round (renewal, then the claimed records
            # let go) passes while c1's save is not stored.
            first, second = threading.Event(), threading.Event()
            beats.append(first)
            assert first.wait(TIMEOUT), "no renewal came"
            beats.append(second)
            assert second.wait(TIMEOUT), "no second renewal came"
            held.set()
        return real_group(slices)

    setattr(writer, name, store_group)
    other = make_sql_store()
    enqueue(other, slow, {}, job_id="c1")
    with Mediator([slow], runners=2, store=store, owner="A", poll_interval=0.2,
                  lease_seconds=1.0) as mediator:  # fmt: skip
        assert first_in.wait(TIMEOUT), "c1's step never started"
        down.set()
        wait_until(
            lambda: other.claim("B", now=time.time(), lease_seconds=60.0, limit=1),
            "B to take c1 over",
        )
        other.release("B")
        down.clear()
        wait_until(lambda: other.lease_owners(["c1"]).get("c1") == "A", "A to claim c1 back")
        mediator.schedule("slow", {}, job_id="c2")
        wait_until(lambda: "c2" in entered, "c2 to start")
        release.set()
        wait_until(lambda: other.get("c1").state is JobState.DONE, "A to end c1")
        assert held.is_set(), "the writer never held c1's slice"
    assert entered.count("c1") == 1, f"c1's step ran again: {entered}"
