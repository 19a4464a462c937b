"""The harness over durable stores, with the clock held still, under PCT and exhaustive search."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from actors import (
    Discriminator,
    JobState,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Workflow,
)
from actors.stores import open_store
from actors.testing import (
    PCT,
    Crash,
    EventFault,
    FaultPlan,
    Harness,
    InvariantViolation,
    Stall,
    exhaust,
    replay,
)
from actors.testing.strategies import fault_plans

FLOW = Workflow(
    "fan",
    start="a",
    steps=[
        Sequential("a", lambda d: None, next="split"),
        ParallelSplit("split", branches=["b", "c"]),
        Sequential("b", lambda d: None, next="join"),
        Sequential("c", lambda d: None, next="join"),
        Synchronize("join", next="end"),
        Sequential("end", lambda d: None),
    ],
)


# -- durable stores ---------------------------------------------------------------------------


def approval(asked: list[str], *, prepared: bool = False) -> Workflow:
    """A request for approval (its correlation id appended to ``asked``), 30 s to answer.

    ``prepared``: a step runs first, so the request's park shares its slice.
    """
    first = [Sequential("prepare", lambda d: {**d, "n": 1}, next="ask")] if prepared else []
    return Workflow(
        "approve",
        start="prepare" if prepared else "ask",
        steps=[
            *first,
            RequestReaction(
                "ask",
                send=lambda d, ctx: asked.append(ctx.correlation_id),
                on_reply=lambda d, reply: {**d, "approved": reply},
                next="done",
                timeout=30.0,
                on_timeout="late",
            ),
            Sequential("done", lambda d: None),
            Sequential("late", lambda d: {**d, "late": True}),
        ],
    )


@pytest.mark.parametrize(
    ("commit", "point"),
    [
        *((commit, point) for commit in ("step", "slice", "group")
          for point in ("before_step", "before_save", "stalled")),
        ("group", "in_group"),  # a crash inside a group needs a store that commits in groups
    ],
)  # fmt: skip
def test_sqlite_in_each_commit_mode_runs_to_the_end_under_crashes(tmp_path, commit, point):
    for seed in range(3):
        for at in (2, 4, 6):
            store = open_store(f"sqlite:///{tmp_path}/{seed}-{at}.db", commit=commit)
            plan = FaultPlan(crashes=(Crash(at, point=point),))
            try:
                with Harness([FLOW], seed=seed, store=store, faults=plan) as h:
                    h.schedule("fan", {})
                    h.schedule("fan", {})
                    # No Livelock from the store's poll timer, no false invariant 5.
                    assert [j.state for j in h.finish()] == [JobState.DONE] * 2
            finally:
                store.close()


def test_a_slice_that_crashes_before_it_is_stored_resumes_from_the_slice_start(tmp_path):
    """With commit="slice" a crash before the slice is stored loses every save in it."""
    store = open_store(f"sqlite:///{tmp_path}/s.db", commit="slice")
    steps: list[str] = []
    flow = Workflow(
        "two",
        start="a",
        steps=[
            Sequential("a", lambda d: steps.append("a"), next="b"),
            Sequential("b", lambda d: steps.append("b")),
        ],
    )
    try:
        plan = FaultPlan(crashes=(Crash(2, point="before_save"),))
        with Harness([flow], seed=0, store=store, runners=1, faults=plan) as h:
            h.schedule("two", {})
            assert h.run_until_quiescent() > 0
            assert [j.state for j in h.finish()] == [JobState.DONE]
    finally:
        store.close()
    # Step a's save was in the same unstored slice as b's: both run again, as documented
    # for commit="slice".
    assert steps == ["a", "b", "a", "b"]


FIRST = Workflow(
    "first",
    start="a",
    steps=[
        Sequential("a", lambda d: None, next="split"),
        ParallelSplit("split", branches=["b", "c"]),
        Sequential("b", lambda d: None, next="join"),
        Sequential("c", lambda d: None, next="join"),
        Discriminator("join", next="end"),
        Sequential("end", lambda d: None, next="after"),
        Sequential("after", lambda d: None),
    ],
)


@pytest.mark.parametrize(("commit", "point"), [("slice", "before_step"), ("group", "in_group")])
def test_a_join_fired_in_a_slice_that_was_never_stored_fires_again(tmp_path, commit, point):
    """The crash loses the join's firing with its slice: its rerun is its one firing."""
    for at in (5, 6, 7):
        for seed in range(6):
            store = open_store(f"sqlite:///{tmp_path}/{at}-{seed}.db", commit=commit)
            plan = FaultPlan(crashes=(Crash(at, point=point),))
            try:
                with Harness([FIRST], seed=seed, store=store, runners=1, faults=plan) as h:
                    h.schedule("first", {})
                    assert [j.state for j in h.finish()] == [JobState.DONE]
            finally:
                store.close()


def test_a_request_parked_in_a_lost_group_is_sent_once_its_park_is_stored(tmp_path):
    """The park that ends a RequestReaction is stored before its request is sent.

    When the group holding it is lost, the job resumes from its last stored save: the
    step runs again, parks again and sends then. Only a stored park sends, so the reply
    to the one request sent finds the job waiting for it.
    """
    asked: list[str] = []
    flow = approval(asked, prepared=True)
    for seed in range(4):
        for at in (1, 2):
            asked.clear()
            store = open_store(f"sqlite:///{tmp_path}/{seed}-{at}.db", commit="group")
            plan = FaultPlan(crashes=(Crash(at, point="in_group"),))
            try:
                with Harness([flow], seed=seed, store=store, faults=plan) as h:
                    sub = h.schedule("approve", {})
                    h.run_until_quiescent(advance_time=False)
                    assert asked == ["j1/ask"], (seed, at)
                    h.receive_event(asked[0], True)
                    job = sub.result()
                    assert (job.step, job.data) == ("done", {"n": 1, "approved": True})
                    assert any(e.action == "crash" for e in h.trace)
            finally:
                store.close()


def test_group_commit_runs_with_the_writer_scheduled_by_the_chooser(tmp_path):
    """The runner moves on before its slice is stored; the writer stores when chosen."""
    store = open_store(f"sqlite:///{tmp_path}/g.db", commit="group")
    try:
        with Harness([FLOW], seed=3, store=store) as h:
            h.schedule("fan", {})
            assert h.writer is not None
            while not h.writer.queued:  # the first slice handed over, not yet stored
                assert h.step()
            assert "store writer: 1 slice(s) not yet stored (j1, j2, j3)" in h.report()
            assert [j.state for j in h.finish()] == [JobState.DONE]
            assert any(e.actor == "writer" and e.action == "store group" for e in h.trace)
            groups, slices = store.group_stats() or (0, 0)
            assert groups >= 1
            assert slices >= groups
    finally:
        store.close()


def test_a_crash_inside_a_group_needs_a_store_that_commits_in_groups(tmp_path):
    plan = FaultPlan(crashes=(Crash(1, point="in_group"),))
    with pytest.raises(ValueError, match=r"in_group.*commit='group'"):
        Harness([FLOW], faults=plan)
    store = open_store(f"sqlite:///{tmp_path}/s.db", commit="slice")
    try:
        with Harness([FLOW], store=store) as h, pytest.raises(ValueError, match="commit='group'"):
            h.crash_runner(0, point="in_group")
    finally:
        store.close()


# -- the clock held still -----------------------------------------------------------------------


def test_run_until_quiet_without_moving_the_clock_lets_a_test_answer_a_request():
    asked: list[str] = []
    flow = approval(asked)
    with Harness([flow], seed=4) as h:
        sub = h.schedule("approve", {})
        h.run_until_quiescent(advance_time=False)
        assert asked == ["j1/ask"] and h.clock.now() == 0.0
        h.receive_event(asked[0], True)
        job = sub.result()
    assert job.data == {"approved": True} and job.step == "done"
    # The default run moves the clock: the timeout wins before the test can answer.
    with Harness([flow], seed=4) as h:
        sub = h.schedule("approve", {})
        h.run_until_quiescent()
        assert sub.result().data == {"late": True}


# -- search strategies ----------------------------------------------------------------------------

COUNT = {"n": 0}


def _bump_read(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "seen": COUNT["n"]}


def _bump_write(d: dict[str, Any]) -> None:
    COUNT["n"] = d["seen"] + 1


RACE = Workflow(
    "race",
    start="split",
    steps=[
        ParallelSplit("split", branches=["r1", "r2"]),
        Sequential("r1", _bump_read, next="w1"),
        Sequential("w1", _bump_write, next="join"),
        Sequential("r2", _bump_read, next="w2"),
        Sequential("w2", _bump_write, next="join"),
        Synchronize("join", merge=lambda p, _: p),
    ],
)


def race(h: Harness) -> None:
    COUNT["n"] = 0
    h.schedule("race", {})
    h.finish()
    if COUNT["n"] != 2:
        h.fail(f"lost update: counted {COUNT['n']}")


def test_exhaustive_search_finds_the_race_and_its_choices_replay_it():
    with pytest.raises(InvariantViolation, match="lost update") as info:
        exhaust(race, workflows=[RACE], runners=2)
    line = next(x for x in str(info.value).splitlines() if x.startswith("choices: "))
    choices = [int(c) for c in line.split("[", 1)[1].split("]", 1)[0].split(",")]
    with pytest.raises(InvariantViolation, match="lost update"):
        replay(race, choices=choices, workflows=[RACE], runners=2)


def test_exhaustive_search_counts_every_schedule_of_a_small_scenario():
    def ok(h: Harness) -> None:
        h.schedule("race", {})
        h.finish()

    full = exhaust(ok, workflows=[RACE], runners=1)
    assert full.complete and full.explored > 1
    bounded = exhaust(ok, workflows=[RACE], runners=1, max_schedules=5)
    assert (bounded.explored, bounded.complete) == (5, False)
    # Bounding the choice points varied bounds the schedules.
    shallow = exhaust(ok, workflows=[RACE], runners=1, max_depth=2)
    assert shallow.complete and shallow.explored <= 4


def test_pct_finds_the_race_and_replays_it_from_its_seed():
    strategy = PCT(depth=2, steps=20)
    failed = None
    for seed in range(200):
        try:
            replay(race, seed=seed, workflows=[RACE], runners=2, strategy=strategy)
        except InvariantViolation as exc:
            failed = seed, str(exc)
            break
    assert failed is not None, "PCT did not find a depth-2 race in 200 runs"
    seed, message = failed
    assert f"strategy={strategy!r}" in message.splitlines()[1]
    with pytest.raises(InvariantViolation) as again:
        replay(race, seed=seed, workflows=[RACE], runners=2, strategy=strategy)
    assert str(again.value) == message
    assert strategy.bound(actors=3) == pytest.approx(1 / 60)


# -- plans and stores a test gets wrong ---------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Crash(2, point="befor_save"),
        lambda: Crash(0),
        lambda: FaultPlan(events=(EventFault(1, "dupe"),)),
        lambda: Stall(runner=0, at=0, steps=0),
        lambda: fault_plans(points=("ingroup",)),
        lambda: fault_plans(points=()),
    ],
)
def test_a_fault_that_could_never_happen_is_refused_when_it_is_made(make):
    """A misspelt point or a step 0 would never fire: the test would pass without a fault."""
    with pytest.raises(ValueError, match=r"befor_save|>= 1|dupe|ingroup|at least one"):
        make()


def test_crash_runner_refuses_an_unknown_point_and_a_runner_the_harness_lacks():
    with Harness([FLOW], seed=1, runners=2) as h:
        with pytest.raises(ValueError, match="unknown crash point 'ingroup'"):
            h.crash_runner(0, point="ingroup")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="numbered 0 to 1"):
            h.crash_runner(5)
        assert not h.faults.armed


def test_an_in_group_crash_on_another_store_names_the_store_and_its_mode(tmp_path):
    plan = FaultPlan(crashes=(Crash(1, point="in_group"),))
    with pytest.raises(ValueError, match=r"memory:// has no group mode"):
        Harness([FLOW], faults=plan)
    store = open_store(f"sqlite:///{tmp_path}/s.db", commit="slice")
    try:
        with pytest.raises(ValueError, match=r"sqlite:///.*s\.db has commit='slice'"):
            Harness([FLOW], faults=plan, store=store, seed=1)
    finally:
        store.close()


def test_a_store_url_is_opened_by_the_harness_and_closed_with_it(tmp_path):
    with Harness([FLOW], seed=2, store=f"sqlite:///{tmp_path}/u.db") as h:
        assert h.writer is not None  # SQLite's default: group commit, scheduled by the harness
        h.schedule("fan", {})
        assert [j.state for j in h.finish()] == [JobState.DONE]
        store = h.store
    with pytest.raises(Exception, match="closed"):
        store.load("j1")


def test_the_report_names_a_planned_crash_the_run_never_reached():
    plan = FaultPlan(crashes=(Crash(2), Crash(40, point="before_save")))
    with Harness([FLOW], seed=1, faults=plan) as h:
        h.schedule("fan", {})
        h.finish()
        h.crash_runner(1)
        report = h.report()
    assert re.search(r"faults not reached \(\d+ step\(s\) run so far\)", report)
    assert "crash after step #40's task, before its save is stored" in report
    assert "runner 1's before_step crash (armed)" in report
    assert "before step #2" not in report


def test_an_injected_crash_logs_one_line_not_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """A property test with crashes must not bury its own failure under pykka tracebacks."""
    flow = Workflow("two", start="a", steps=[
        Sequential("a", lambda d: None, next="b"),
        Sequential("b", lambda d: None),
    ])  # fmt: skip
    plan = FaultPlan(crashes=(Crash(at_step=1, point="before_save"),))
    with caplog.at_level(logging.INFO), Harness([flow], seed=1, faults=plan) as h:
        h.schedule("two", {})
        assert [job.state for job in h.finish()] == [JobState.DONE]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    # The engine recovers from it as from any crash, and says so, but not as an error.
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == []
    assert any("resumes from its last saved step" in r.getMessage() for r in caplog.records)
    injected = [r.getMessage() for r in caplog.records if r.name == "actors.testing"]
    assert len(injected) == 1
    assert injected[0].startswith("runner-0")
    assert "injected: runner 0 crash after step #1's task" in injected[0]


def test_a_group_lost_by_an_injected_crash_logs_one_line_not_a_store_error(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer's injected loss is the test's doing: an INFO line, not the store's ERROR."""
    store = open_store(f"sqlite:///{tmp_path}/g.db", commit="group")
    plan = FaultPlan(crashes=(Crash(2, point="in_group"),))
    try:
        with caplog.at_level(logging.INFO), Harness([FLOW], seed=1, store=store, faults=plan) as h:
            h.schedule("fan", {})
            assert [job.state for job in h.finish()] == [JobState.DONE]
    finally:
        store.close()
    assert not [r for r in caplog.records if r.name == "actors.stores"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    injected = [r.getMessage() for r in caplog.records if r.name == "actors.testing"]
    assert injected == [
        "writer: injected: the writer crashed storing a group of 1 slice(s) (step #2's among them)"
    ]


def test_a_join_merge_runs_again_when_the_join_steps_save_is_lost():
    """What the guarantees page says: the join fires once, its merge is at least once."""
    merges: list[int] = []

    def merge(parent: dict, branches: list[dict]) -> dict:
        merges.append(len(branches))
        return {**parent, "n": len(branches)}

    flow = Workflow("fan", start="split", steps=[
        ParallelSplit("split", branches=["b", "c"]),
        Sequential("b", lambda d: None, next="join"),
        Sequential("c", lambda d: None, next="join"),
        Synchronize("join", merge=merge, next="end"),
        Sequential("end", lambda d: {**d, "ended": True}),
    ])  # fmt: skip
    seen_twice = False
    for at in range(2, 7):
        merges.clear()
        plan = FaultPlan(crashes=(Crash(at, point="before_save"),))
        with Harness([flow], seed=at, runners=1, faults=plan) as h:
            h.schedule("fan", {})
            [job] = h.finish()
        assert job.data == {"n": 2, "ended": True}
        seen_twice = seen_twice or merges == [2, 2]
    assert seen_twice
