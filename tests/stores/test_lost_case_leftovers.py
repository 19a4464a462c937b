"""A worker that loses a case keeps nothing of it, whatever it counted for its jobs.

Counts kept by job (runner deaths in a row, slices not stored in a row) went only with
the job's next report; a job whose case went to another worker before it ran again
reports nothing here, and its count stayed for good.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from leftovers import HeldFlows, leftovers, wait_for_nothing_kept

from actors import EventOutcome, Mediator, StoreError


@pytest.mark.parametrize("failed", ["runner_failures", "unsaved_slices"])
def test_a_case_lost_as_its_job_waits_to_run_again_after_its_slice_failed_leaves_nothing(
    make_sql_store, failed
):
    """Its runner died, or its slice was not stored: counted, then the case was lost."""
    held = HeldFlows()
    first, second, in_reply = held.first, held.second, held.in_reply
    down = threading.Event()
    flows = held.flows()
    unsaved = failed == "unsaved_slices"
    store, other = make_sql_store(**({"commit": "group"} if unsaved else {})), make_sql_store()
    save, renew = store.save, store.heartbeat

    def dies_once(job: Any) -> None:  # the runner's save of "dies" at step "b" kills it
        if job.id == "dies" and job.step == "b" and not down.is_set():
            down.set()
            raise RuntimeError("the process died between two steps")
        save(job)

    if unsaved:  # the writer's transaction of the slice of "dies" fails instead
        writer = store._writer
        store_group = writer._store_group

        def fails_once(slices: Any) -> Any:
            if not down.is_set() and any(j.id == "dies" for p in slices for *_, j in p.rows):
                down.set()
                raise RuntimeError("the transaction failed")
            return store_group(slices)

        writer._store_group = fails_once
    else:
        store.save = dies_once

    def heartbeat(*args: Any) -> None:
        if down.is_set() and not taken.is_set():
            error = StoreError("the database cannot be reached (test)")
            error.blames_job = False
            raise error
        renew(*args)

    taken = threading.Event()
    store.heartbeat = heartbeat
    options = {"runners": 1, "owner": "A", "poll_interval": 0.2, "lease_seconds": 1.0}
    with Mediator(flows, store=store, **options) as mediator:
        kept = leftovers(mediator)
        mediator.schedule("asks", {}, job_id="asks")
        wait_until(lambda: "correlations" in kept(), "the request to park")
        mediator.schedule("plain", {}, job_id="dies")
        wait_until(lambda: "channel.running" in kept(), "the step to start")
        # Ready before the death: the runner, started again, takes it first.
        assert mediator.receive_event("asks/ask", "yes") is EventOutcome.DELIVERED
        first.set()  # the step's slice fails; A's renewals fail from then on
        assert in_reply.wait(TIMEOUT), "the reply never ran"
        wait_until(lambda: failed in kept(), "the failed slice to be counted")  # "dies" waits
        wait_until(
            lambda: other.claim("B", now=time.time(), lease_seconds=60.0, limit=10),
            "B to take the cases over",
        )
        taken.set()  # A's next renewal finds them B's, and drops them
        wait_until(lambda: "book.jobs" not in kept(), "A to drop the cases")
        second.set()
        wait_for_nothing_kept(kept)
