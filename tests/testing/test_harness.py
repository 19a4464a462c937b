"""The Harness: runs, determinism, reports, producers, events and faults."""

from __future__ import annotations

from typing import Any

import pytest

from actors import (
    ExclusiveChoice,
    FullMode,
    JobState,
    MailboxFull,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors import messages as m
from actors._admission import AdmissionGate
from actors._scheduler import Scheduler
from actors.stores import MemoryStore
from actors.testing import (
    Crash,
    Deadlock,
    EventFault,
    FaultPlan,
    Harness,
    InvariantViolation,
    Livelock,
    Stall,
    VirtualClock,
    explore,
    replay,
)


def mark(name: str):
    def task(data: dict[str, Any]) -> None:
        data.setdefault("done", []).append(name)

    return task


def merge(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    base = len(parent.setdefault("done", []))  # each branch's list starts as the parent's
    for branch in branches:
        parent["done"] += branch["done"][base:]


FAN = Workflow("fan", start="a", steps=[
    Sequential("a", mark("a"), next="split"),
    ParallelSplit("split", branches=["b", "c"]),
    Sequential("b", mark("b"), next="b2"),
    Sequential("b2", mark("b2"), next="join"),
    Sequential("c", mark("c"), next="join"),
    Synchronize("join", merge=merge, next="z"),
    Sequential("z", mark("z")),
])  # fmt: skip

NAP = Workflow("nap", start="sleep", steps=[
    Wait("sleep", 60.0, next="wake"),
    Sequential("wake", mark("wake")),
])  # fmt: skip


def ask_reply(timeout: float | None = 5.0) -> Workflow:
    # Without a timeout there is no on_timeout, nor the step it would lead to.
    late = [] if timeout is None else [Sequential("late", mark("late"))]
    return Workflow("ask", start="ask", steps=[
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, e: d.update(got=e),
                        next="ok", timeout=timeout, on_timeout=None if timeout is None else "late"),
        Sequential("ok", mark("ok")),
        *late,
    ])  # fmt: skip


def three_cases(h: Harness) -> None:
    for _ in range(3):
        h.schedule("fan", {})
    h.finish()


# -- running ----------------------------------------------------------------------------------


def test_cases_run_to_the_end_and_the_trace_names_every_delivery():
    with Harness([FAN], seed=1) as h:
        sub = h.schedule("fan", {"done": []})
        job = sub.result()
    assert job.state is JobState.DONE
    assert job.data["done"] == ["a", "b", "b2", "c", "z"]
    actions = {(e.actor, e.action) for e in h.trace}
    assert ("scheduler", "SpawnBranch") in actions
    assert ("scheduler", "BranchArrived") in actions
    assert any(e.actor.startswith("runner-") and e.action == "RunJob" for e in h.trace)
    assert all(e.index == i for i, e in enumerate(h.trace))


def test_the_virtual_clock_jumps_to_the_next_timer_when_everything_is_idle():
    with Harness([NAP], seed=0) as h:
        h.schedule("nap", {})
        (job,) = h.finish()
    assert job.state is JobState.DONE
    assert h.clock.now() == 60.0
    assert ("clock", "jump") in {(e.actor, e.action) for e in h.trace}


# -- determinism ------------------------------------------------------------------------------


def test_the_same_seed_gives_the_identical_trace():
    first = replay(three_cases, seed=7, workflows=[FAN], runners=3, capacity=2)
    again = replay(three_cases, seed=7, workflows=[FAN], runners=3, capacity=2)
    assert first.trace == again.trace
    assert len(first.trace) > 30


def test_different_seeds_give_different_traces():
    traces = {
        tuple(replay(three_cases, seed=s, workflows=[FAN], runners=3, capacity=2).trace)
        for s in range(10)
    }
    assert len(traces) >= 8


def test_a_harness_replays_itself():
    with Harness([FAN], seed=99, runners=2) as h:
        three_cases(h)
    with h.replay() as again:
        three_cases(again)
    assert again.seed == 99
    assert again.trace == h.trace


def test_explore_runs_many_seeds():
    assert explore(three_cases, runs=20, workflows=[FAN], runners=2, capacity=1) == 20


# -- failures and their reports ------------------------------------------------------------------


class ForgetfulScheduler(Scheduler):
    """Never hands admitted jobs to idle runners: a lost wake-up."""

    def _on_admitted(self, _: m.Admitted) -> None:
        pass


def test_a_lost_wakeup_is_reported_as_a_deadlock_with_who_holds_what():
    with Harness([FAN], seed=3, substitutions={Scheduler: ForgetfulScheduler}) as h:
        h.run_until_quiescent()  # every actor started: runners idle, waiting to be woken
        for _ in range(2):
            h.schedule("fan", {})
        with pytest.raises(Deadlock) as info:
            h.run_until_quiescent()
    report = str(info.value)
    assert "the run is quiescent but 2 job(s) of 2 case(s) cannot finish" in report
    assert "seed: 3" in report
    assert "admission gate: 2/4 used (BACKPRESSURE); queued: j1 (fan), j2 (fan)" in report
    assert "runner-0: idle" in report
    assert "last " in report and "scheduler    Admitted" in report


def test_a_future_that_can_never_resolve_raises_deadlock():
    with Harness([FAN], seed=3, substitutions={Scheduler: ForgetfulScheduler}) as h:
        h.run_until_quiescent()
        sub = h.schedule("fan", {})
        with pytest.raises(Deadlock, match="nothing can run"):
            sub.result()


def test_a_run_that_never_settles_is_a_livelock():
    # A loop whose exit never comes (a loop with no exit at all is refused when built).
    spin = Workflow("spin", start="s", steps=[
        Sequential("s", mark("s"), next="again"),
        ExclusiveChoice("again", spec=lambda d: True, if_true="s", if_false="out"),
        Sequential("out", mark("out")),
    ])  # fmt: skip
    with Harness([spin], seed=0) as h:
        h.schedule("spin", {})
        with pytest.raises(Livelock, match="seed: 0"):
            h.run_until_quiescent(max_steps=200)


def test_jobs_waiting_for_events_are_not_a_deadlock_until_the_case_must_finish():
    with Harness([ask_reply(timeout=None)], seed=0) as h:
        h.schedule("ask", {})
        h.run_until_quiescent()  # parked on its reply: fine
        with pytest.raises(Deadlock, match="still wait for external events"):
            h.finish()


class RaisingScheduler(Scheduler):
    def _on_spawn(self, msg: m.SpawnBranch) -> None:
        raise KeyError("oops")


def test_an_exception_escaping_an_actor_fails_the_run_at_once():
    with Harness([FAN], seed=0, substitutions={Scheduler: RaisingScheduler}) as h:
        h.schedule("fan", {})
        with pytest.raises(InvariantViolation, match="scheduler raised KeyError: 'oops'"):
            h.run_until_quiescent()


class ForgetParkedScheduler(Scheduler):
    def _on_parked(self, msg: m.JobParked) -> None:
        pass  # the parked job is held by nobody from now on


def test_a_job_nobody_holds_any_more_violates_invariant_1():
    with Harness([NAP], seed=0, substitutions={Scheduler: ForgetParkedScheduler}) as h:
        h.schedule("nap", {})
        with pytest.raises(
            InvariantViolation, match=r"invariant 1: job.*no actor, queue or message"
        ):
            h.run_until_quiescent()


class DoubleDispatchScheduler(Scheduler):
    def _on_spawn(self, msg: m.SpawnBranch) -> None:
        super()._on_spawn(msg)
        self._make_ready(msg.job)  # a second time: a second idle runner gets it too


def test_a_job_handed_to_two_runners_violates_invariant_2():
    with Harness([FAN], seed=5, runners=3, substitutions={Scheduler: DoubleDispatchScheduler}) as h:
        h.run_until_quiescent()
        h.schedule("fan", {})
        with pytest.raises(InvariantViolation, match="invariant 2: RunJob"):
            h.run_until_quiescent()


class StaleStore(MemoryStore):
    """Hands back a job as first saved: resuming from it is what invariant 5 forbids."""

    def __init__(self) -> None:
        super().__init__(copy_data=True)
        self.first: dict[str, Any] = {}

    def save(self, job: Any) -> None:
        super().save(job)
        self.first.setdefault(job.id, (job.step, dict(job.data)))

    def save_split(self, parent: Any, branches: list[Any]) -> None:
        super().save_split(parent, branches)
        for branch in branches:
            self.first.setdefault(branch.id, (branch.step, dict(branch.data)))

    def load(self, job_id: str) -> Any:
        job = super().load(job_id)
        if job is not None and job_id in self.first:
            job.step, job.data = self.first[job_id]
        return job


def test_resuming_from_anything_but_the_last_save_violates_invariant_5():
    crash_before_b2 = FaultPlan(crashes=(Crash(4),))  # one runner: a, split, b, then b2
    with Harness([FAN], seed=0, runners=1, store=StaleStore(), faults=crash_before_b2) as h:
        h.schedule("fan", {})
        with pytest.raises(InvariantViolation, match="invariant 5: job j2 resumed at step 'b'"):
            h.run_until_quiescent()


def test_a_memory_store_without_copy_data_resumes_from_the_data_as_saved():
    """A crash after a task changed the data in place resumes without those changes.

    ``MemoryStore()`` (``memory://``) keeps its own copy of each save's data, as
    ``copy_data=True`` does: the check of invariant 5 expects the data as saved.
    """
    for store in (MemoryStore(), "memory://"):
        for at in range(1, 7):
            crash = FaultPlan(crashes=(Crash(at, point="before_save"),))
            with Harness([FAN], seed=at, runners=2, store=store, faults=crash) as h:
                h.schedule("fan", {})
                (job,) = h.finish()
            assert job.state is JobState.DONE, job.error


def test_admitting_beyond_capacity_is_caught(monkeypatch):
    # A gate that never refuses: the bound is only the harness's to enforce now.
    monkeypatch.setattr(
        AdmissionGate, "reserve", lambda self, **_: setattr(self, "_reserved", self._reserved + 1)
    )
    with Harness([FAN], seed=0, capacity=1) as h:
        h.schedule("fan", {})
        h.schedule("fan", {})
        with pytest.raises(InvariantViolation, match=r"admission bound exceeded|invariant 6"):
            h.run_until_quiescent()


# -- producers ---------------------------------------------------------------------------------


def test_backpressure_blocks_producers_until_a_slot_frees():
    with Harness([FAN], seed=2, runners=1, capacity=1) as h:
        subs = [h.schedule("fan", {}) for _ in range(4)]
        assert [s.blocked for s in subs] == [False, True, True, True]
        results = h.finish()
    assert [j.state for j in results] == [JobState.DONE] * 4
    actions = [e.action for e in h.trace if e.actor.startswith("producer-")]
    assert "blocked" in actions and "resume" in actions
    assert h.monitor.peak_unstarted <= 1


def test_drop_newest_refuses_and_drop_oldest_sheds():
    with Harness([FAN], seed=2, runners=1, capacity=1, full_mode=FullMode.DROP_NEWEST) as h:
        subs = [h.schedule("fan", {}) for _ in range(3)]
        h.finish()
    assert [isinstance(s.refused, MailboxFull) for s in subs] == [False, True, True]
    shed: list[Any] = []
    with Harness(
        [FAN], seed=2, runners=1, capacity=1, full_mode=FullMode.DROP_OLDEST, on_shed=shed.append
    ) as h:
        subs = [h.schedule("fan", {}) for _ in range(3)]
        states = [j.state for j in h.finish()]
    assert states == [JobState.SHED, JobState.SHED, JobState.DONE]
    assert [j.id for j in shed] == [subs[0].job_id, subs[1].job_id]


# -- faults ---------------------------------------------------------------------------------------


def test_a_crashed_runner_is_restarted_and_its_job_resumes_from_its_last_save():
    with Harness(
        [FAN], seed=4, runners=2, faults=FaultPlan(crashes=(Crash(3), Crash(5, lease=True)))
    ) as h:
        sub = h.schedule("fan", {})
        (job,) = h.finish()
    assert job.state is JobState.DONE
    assert job.data["done"] == ["a", "b", "b2", "c", "z"]  # each step exactly once
    assert len(h.monitor.crashes) == 2
    assert [jid for jid, _ in h.monitor.resumes] == [jid for _, jid, _ in h.monitor.crashes]
    assert {"crash", "lease-expired", "RunnerFailed"} <= {e.action for e in h.trace}
    assert any(e.actor in {"runner-0#2", "runner-1#2"} for e in h.trace)  # restarted
    assert sub.done


def test_a_stalled_runner_gets_nothing_while_others_can_run():
    plan = FaultPlan(stalls=(Stall(runner=0, at=0, steps=40),))
    with Harness([FAN], seed=1, runners=2, faults=plan) as h:
        for _ in range(2):
            h.schedule("fan", {})
        h.finish()
    assert [e for e in h.trace[:40] if e.actor == "runner-0" and e.action == "RunJob"] == []


def test_event_faults_duplicate_drop_delay_and_reorder():
    plan = FaultPlan(events=(EventFault(1, "duplicate"), EventFault(2, "drop")))
    clock = VirtualClock(autojump=False)  # no timeout may fire before the replies are sent
    with Harness([ask_reply()], seed=0, faults=plan, clock=clock) as h:
        first, second = h.schedule("ask", {}), h.schedule("ask", {})
        h.run_until_quiescent()  # both parked on their replies
        clock.autojump = True
        outcome = h.receive_event(f"{first.job_id}/ask", "yes")
        assert h.receive_event(f"{second.job_id}/ask", "lost") is None
        results = h.finish()
    assert outcome is not None and outcome.get().value == "delivered"
    duplicate = [e for e in h.trace if e.action == "DeliverEvent"]
    assert len(duplicate) == 2  # delivered twice; the second answered "duplicate"
    assert results[0].data == {"got": "yes", "done": ["ok"]}
    assert results[1].data == {"done": ["late"]}  # the dropped reply: it timed out
    assert "event dropped" in {e.action for e in h.trace}


def test_a_delayed_event_loses_the_race_with_its_timeout_only_when_later():
    # A delay in actions takes no virtual time; one in seconds past the timeout loses.
    for delay, end in (
        (EventFault(1, "delay", by=50), "ok"),
        (EventFault(1, "delay", seconds=2), "late"),
    ):
        for seed in range(6):
            with Harness(
                [ask_reply(timeout=1.0)], seed=seed, faults=FaultPlan(events=(delay,))
            ) as h:
                cid = f"{h.schedule('ask', {}).job_id}/ask"
                h.run_until_quiescent(advance_time=False)  # parked on its reply
                h.receive_event(cid, "yes")
                (job,) = h.finish()
            assert job.data["done"] == [end], (delay, seed)


def test_a_reordered_event_arrives_after_the_next_one():
    plan = FaultPlan(events=(EventFault(1, "reorder"),))
    with Harness([ask_reply(timeout=None)], seed=0, faults=plan) as h:
        a, b = h.schedule("ask", {}), h.schedule("ask", {})
        h.run_until_quiescent()
        h.receive_event(f"{a.job_id}/ask", "first")
        h.receive_event(f"{b.job_id}/ask", "second")
        h.finish()
    sent = [e.detail for e in h.trace if e.action == "event"]
    assert sent == [f"{b.job_id}/ask", f"{a.job_id}/ask"]


def test_cancel_through_the_harness():
    with Harness([NAP], seed=0, clock=VirtualClock(autojump=False)) as h:
        sub = h.schedule("nap", {})
        h.run_until_quiescent()
        outcome = h.cancel(sub.job_id)
        (job,) = h.finish()
    assert outcome.get().value == "cancelled"
    assert job.state is JobState.CANCELLED


def test_the_mediator_facade_works_under_the_harness():
    with Harness([NAP], seed=0) as h:
        sub = h.schedule("nap", {})
        assert h.mediator.cancel(sub.job_id).value == "cancelled"  # blocking: drives the run
        assert h.mediator.stats().cancelled == 1
        h.mediator.shutdown()
    assert sub.result().state is JobState.CANCELLED


def test_a_store_that_commits_in_another_process_is_refused_by_name(tmp_path):
    from actors.stores import open_store

    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}", commit="group", writer="process")
    try:
        with pytest.raises(ValueError, match=r"jobs\.db.*writer process.*writer='thread'"):
            Harness([FAN], seed=1, store=store)
    finally:
        store.close()
