"""A long timer on a SQLite store under the harness: the clock jumps to it, as on memory.

A shared store's poll rings every ``poll_interval`` (a second): a clock that jumped from
poll to poll took three actions a second, so a one-hour ``Wait`` took 10,800 actions and
a day's ended in a false ``Livelock``. When every unfinished case is this engine's, the
polls in between could take nothing, and the clock jumps past them to the job's timer.
"""

from __future__ import annotations

import pytest

from actors import JobState, RequestReaction, Sequential, Wait, Workflow
from actors.stores import open_store
from actors.testing import Harness, VirtualClock

DAY = 86400.0

reminder = Workflow("reminder", start="pause", steps=[
    Wait("pause", duration=DAY, next="remind"),
    Sequential("remind", lambda d: d.update(reminded=True), next="again"),
    Wait("again", duration=DAY, next="end"),
    Sequential("end", lambda d: None),
])  # fmt: skip


def jumps(h: Harness) -> int:
    return sum(1 for entry in h.trace if entry.action == "jump")


@pytest.mark.parametrize("commit", ["step", "group"])
def test_a_day_long_wait_on_sqlite_takes_a_few_clock_jumps(tmp_path, commit):
    store = open_store(f"sqlite:///{tmp_path}/w.db", commit=commit)
    try:
        with Harness([reminder], seed=1, store=store) as h:
            h.schedule("reminder", {})
            (job,) = h.finish()
    finally:
        store.close()
    assert job.state is JobState.DONE and job.data["reminded"] is True
    assert h.clock.now() >= 2 * DAY
    assert jumps(h) <= 4  # one per Wait, and a poll's or two, not one a second


def test_a_timer_resumed_by_a_restarted_harness_jumps_too(tmp_path):
    clock = VirtualClock()
    store = open_store(f"sqlite:///{tmp_path}/w.db")
    try:
        with Harness([reminder], seed=2, store=store, clock=clock) as h:
            h.schedule("reminder", {}, job_id="r1")
            h.run_until_quiescent(advance_time=False)  # parked at "pause"
            h.mediator.shutdown()
    finally:
        store.close()
    store = open_store(f"sqlite:///{tmp_path}/w.db")
    try:
        with Harness([reminder], seed=3, store=store, clock=clock) as again:
            again.run_until_quiescent()
            job = store.get("r1")
    finally:
        store.close()
    assert job.state is JobState.DONE and job.data["reminded"] is True
    assert jumps(again) <= 4


def test_a_request_s_timeout_on_sqlite_is_reached_in_a_few_jumps(tmp_path):
    asked: list[str] = []
    flow = Workflow("ask", start="ask", steps=[
        RequestReaction("ask", send=lambda d, ctx: asked.append(ctx.correlation_id),
                        on_reply=lambda d, r: None, next="done", timeout=7 * DAY,
                        on_timeout="late"),
        Sequential("done", lambda d: None),
        Sequential("late", lambda d: d.update(late=True)),
    ])  # fmt: skip
    store = open_store(f"sqlite:///{tmp_path}/r.db")
    try:
        with Harness([flow], seed=4, store=store) as h:
            h.schedule("ask", {})
            (job,) = h.finish()
    finally:
        store.close()
    assert asked and job.data == {"late": True}
    assert jumps(h) <= 4
