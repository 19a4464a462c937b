"""Engine bugs the harness found, each pinned by the smallest scenario that showed it.

Each test replays its scenario under many seeds (a few milliseconds each), so it keeps
failing if any interleaving brings the bug back, not just the one Hypothesis reported.
"""

from __future__ import annotations

import pytest

from actors import (
    CancelOutcome,
    DeferredChoice,
    EventOutcome,
    JobState,
    ParallelSplit,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.stores import open_store
from actors.testing import (
    Case,
    Crash,
    EngineConfig,
    FaultPlan,
    GeneratedWorkflow,
    Harness,
    Scenario,
    VirtualClock,
)
from actors.testing._shapes import Choice, Loop, Pause, Seq, Split, Task

SEEDS = range(150)


@pytest.mark.parametrize("runners", [1, 2])
def test_a_late_discriminator_loser_does_not_end_its_looping_parents_next_split(runners):
    # A losing branch that ended after its parent had split again (before the new
    # branches were spawned) ended the parent DONE: the case finished early, truncated.
    shape = Loop(3, Split((Seq((Pause(1.0), Task())), Task()), "first"))
    scenario = Scenario(GeneratedWorkflow(shape), EngineConfig(runners=runners, capacity=1))
    for seed in SEEDS:
        scenario.play(seed=seed)  # checks the case ran every iteration, each step once


@pytest.mark.parametrize("runners", [3, 4])
def test_a_losing_branch_resumed_past_its_own_discriminator_is_cancelled_and_ends(runners):
    # A branch that split in turn, past its own Discriminator (its losers still ran),
    # lost the outer one while its runner was dead; resumed from the store, it was
    # marked cancelled and left READY with no runner: the case never ended (Deadlock).
    shape = Split((Split((Task(), Pause(1.0)), "first"), Task()), "first")
    wf = GeneratedWorkflow(shape)
    for step in (7, 8):
        plan = FaultPlan(crashes=(Crash(step, point="before_step"),))
        scenario = Scenario(wf, EngineConfig(runners=runners), (Case(),), faults=plan)
        for seed in range(40):
            scenario.play(seed=seed)  # checks every case ended, each step run once


def test_a_cancel_racing_the_jobs_own_message_is_not_lost():
    # cancel() answered NOT_FOUND, and the job ran on to DONE, when the Scheduler handled
    # it while the job's JobParked message was still on its way.
    nap = Workflow("nap", start="sleep", steps=[
        Wait("sleep", 60.0, next="wake"),
        Sequential("wake", lambda d: None),
    ])  # fmt: skip
    for seed in SEEDS:
        with Harness([nap], seed=seed, clock=VirtualClock(autojump=False)) as h:
            sub = h.schedule("nap", {})
            outcome = h.cancel(sub.job_id)
            h.clock.autojump = True
            h.run_until_quiescent()
        assert outcome.get().value == "cancelled", seed
        assert sub.result().state is JobState.CANCELLED, seed


def test_cancelling_a_parent_while_its_next_split_is_on_the_way_keeps_the_scheduler_alive():
    # The first branch of the new split was cancelled at once, which ended the parent and
    # dropped it; the second SpawnBranch then raised KeyError and killed the Scheduler.
    shape = Loop(2, Split((Task(), Choice(0, Task(), Task())), "first"))
    wf = GeneratedWorkflow(shape)
    for cancel_at in range(4, 12):
        scenario = Scenario(
            wf, EngineConfig(runners=1, capacity=1), (Case((False,), 0, cancel_at),)
        )
        for seed in range(40):
            scenario.play(seed=seed)


def test_an_event_for_a_park_stored_but_not_yet_reported_is_delivered_in_every_round(tmp_path):
    # A job that got an event on a step and came back to it (a loop here; an operator's
    # reset does the same) waits on the same correlation ids again. With group commit its
    # runner's slice stores the new park and the writer reports it after: an event coming
    # in between was told "duplicate", from the memory of the first round, and was lost.
    rounds: list[int] = []
    flow = Workflow("menu", start="choose", steps=[
        DeferredChoice(
            "choose",
            events={"more": "count", "stop": "end"},
            on_event=lambda d, name, payload: d.update(got=[*d.get("got", []), payload]),
        ),
        Sequential("count", lambda d: rounds.append(len(d["got"])), next="choose"),
        Sequential("end", lambda d: None),
    ])  # fmt: skip
    for seed in range(20):
        rounds.clear()
        store = open_store(f"sqlite:///{tmp_path}/{seed}.db", commit="group")
        try:
            with Harness([flow], seed=seed, store=store) as h:
                sub = h.schedule("menu", {})
                more = f"{sub.job_id}/choose/more"
                h.run_until_quiescent()  # parked on "choose", and reported
                first = h.receive_event(more, 1)
                assert h.writer is not None
                while not rounds:  # until its runner has parked on "choose" again
                    assert h.step()
                assert h.writer.queued  # that park, handed to the writer, not stored
                second = h.receive_event(more, 2)  # the same id, in the new round
                h.writer.write()  # the park is stored; its report goes behind the event
                h.run_until_quiescent()
                stop = h.receive_event(f"{sub.job_id}/choose/stop", 3)
                h.run_until_quiescent()
                outcomes = [first.get(), second.get(), stop.get()]
                assert outcomes == [EventOutcome.DELIVERED] * 3, seed
                job = sub.result()
                assert (job.state, job.data["got"]) == (JobState.DONE, [1, 2, 3]), seed
        finally:
            store.close()


class _WriterLast:
    """A chooser that runs anything before the store's writer: a slice handed over waits.

    ``pick(labels)`` is the hook a ranking chooser (PCT) gets: one label per option.
    """

    def choose(self, n: int) -> int:
        return 0

    def pick(self, labels) -> int:
        return next((i for i, label in enumerate(labels) if label != "writer"), 0)


@pytest.mark.parametrize("shape", ["split after a wait", "dynamic split after a wait", "nested"])
def test_a_cancel_while_a_split_waits_in_the_group_writer_ends_the_case(tmp_path, shape):
    # A job the Scheduler held (it had parked, or it is a branch) splits: its runner hands
    # the slice to the writer and takes its next job. A cancel then found the record
    # split in memory but none of its branches spawned yet, ended it CANCELLED in a save
    # of its own (which commits beside the writer's groups), and the writer stored the
    # older slice (the split) over that save: the job stayed unfinished in the store.
    # A record handed to a runner is now the Scheduler's again only when a report brings
    # it back, and the writer sends the reports once the slice is stored: so the cancel
    # is noted, put on the record when the first branch's spawn returns it, and every
    # save the Scheduler makes of it comes after the slice.
    def step(name, then="join"):
        return Sequential(name, lambda d: None, next=then)

    if shape == "nested":  # a branch splits in turn
        steps = [
            ParallelSplit("start", branches=["fan", "b"]),
            ParallelSplit("fan", branches=["c", "d"]),
            step("c", "inner_join"),
            step("d", "inner_join"),
            Synchronize("inner_join", next="join"),
            step("b"),
        ]
    else:
        items = (lambda d: [1, 2]) if shape.startswith("dynamic") else ["a", "b"]
        steps = [
            Wait("start", 1.0, next="fan"),
            ParallelSplit("fan", branches=items, each="a" if callable(items) else None),
            step("a"),
            *([] if callable(items) else [step("b")]),
        ]
    flow = Workflow("fan", start="start", steps=[
        *steps, Synchronize("join", next="end"), Sequential("end", lambda d: None)
    ])  # fmt: skip
    store = open_store(f"sqlite:///{tmp_path}/g.db", commit="group")
    try:
        with Harness([flow], chooser=_WriterLast(), store=store, runners=1) as h:
            sub = h.schedule("fan", {})
            assert h.writer is not None
            while not [j for j in _queued(h) if j.step == "fan" and j.split_total]:
                assert h.step()  # until the split at "fan" is handed to the writer
            outcome = h.cancel(sub.job_id)
            h.run_until_quiescent()
            assert outcome.get() is CancelOutcome.CANCELLED
            assert sub.result().state is JobState.CANCELLED
            assert store.unfinished() == []
    finally:
        store.close()


def _queued(h):
    """The records in the slices the writer holds, not yet stored."""
    return [job for part, _ in h.writer.queued for _, _, job in part.rows]
