"""A cancel that comes as a runner hands a job back unrun is carried out when it runs on.

A runner that cannot vouch for its case's lease (the worker's renewals failing past its
deadline) hands its job back unrun (``LeaseUnvouched``). It leaves the job before its
report reaches the Scheduler, and a new case's first job, started from the admission
gate, is held by no collaborator until then: a cancel in between is noted for when the
report comes (``CaseBook.cancels``). The report of a job handed back did not take it up,
so the job ran on to its end once the leases were renewed, its cancel said done.
"""

from __future__ import annotations

import threading
import time

from bounds import TIMEOUT

from actors import CancelOutcome, JobState, Mediator, Sequential, StoreError, Workflow

LEASE = 1.0


def test_a_cancel_as_the_job_is_handed_back_unrun_cancels_it(make_sql_store):
    store = make_sql_store(commit="step")
    ran: list[str] = []
    entered, release, down = threading.Event(), threading.Event(), threading.Event()
    lapsed, cancelled, window = threading.Event(), threading.Event(), threading.Event()
    renewed = [time.time()]  # no later than the last renewal (or start) that got through

    def heartbeat(owner, now, lease_seconds) -> None:
        if down.is_set():
            if now >= renewed[0] + LEASE:  # the worker's deadline is past: no step starts
                lapsed.set()
            error = StoreError("the database cannot be reached (test)")
            error.blames_job = False
            raise error
        renew(owner, now, lease_seconds)
        renewed[0] = max(renewed[0], now)

    def hold(data, ctx) -> None:
        entered.set()
        release.wait(TIMEOUT)

    renew, store.heartbeat = store.heartbeat, heartbeat
    steps = [
        Sequential("hold", hold, next="after"),
        Sequential("after", lambda data, ctx: ran.append(ctx.job_id)),
    ]
    flow = Workflow("slow", start="hold", steps=steps)
    with Mediator(
        [flow], runners=1, store=store, owner="A", poll_interval=0.2, lease_seconds=LEASE
    ) as mediator:
        renewed[0] = time.time()  # after the start's own lease
        channel = mediator._engine.channel
        real_done = channel.done

        def done(job, runner) -> None:
            real_done(job, runner)
            if job.id == "c1" and not window.is_set():
                window.set()  # handed back: its report is not told yet
                assert cancelled.wait(TIMEOUT), "the cancel never came"

        channel.done = done
        handle = mediator.schedule("slow", {}, job_id="c1")
        assert entered.wait(TIMEOUT), "c1's step never started"
        down.set()
        assert lapsed.wait(TIMEOUT), "the worker's deadline never passed"
        release.set()
        assert window.wait(TIMEOUT), "c1 never left its runner"
        assert mediator.cancel("c1") is CancelOutcome.CANCELLED
        cancelled.set()
        down.clear()
        job = handle.result(TIMEOUT)
    assert (job.state, ran) == (JobState.CANCELLED, []), (job, ran)
