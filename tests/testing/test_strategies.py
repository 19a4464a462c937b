"""The public strategies: valid workflows, data, configurations, fault plans, scenarios."""

from __future__ import annotations

import pytest
from bounds import TIMEOUT
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from actors import FullMode, JobState, Mediator, ParallelSplit, Workflow
from actors.testing import Crash, FaultPlan, GeneratedWorkflow, InvariantViolation, Scenario
from actors.testing._generated import trail_of
from actors.testing._shapes import Seq, Split, Task
from actors.testing.strategies import (
    engine_configs,
    fault_plans,
    job_data,
    scenarios,
    workflows,
)

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(workflows(requests=True))
def test_generated_workflows_are_valid_and_record_every_task(wf):
    assert isinstance(wf, Workflow)  # built, so it passed the Workflow's own validation
    assert len(set(wf.steps)) == len(wf.steps)
    flags = [False] * wf.flag_count
    trails = wf.trails(flags)
    assert trails is None or all(isinstance(t, tuple) for t in trails)


@QUICK
@given(workflows().flatmap(lambda wf: st.tuples(st.just(wf), job_data(wf))))
def test_job_data_has_a_flag_for_every_choice(pair):
    wf, data = pair
    assert data == {"log": [], "flags": data["flags"]}
    assert len(data["flags"]) == wf.flag_count


@QUICK
@given(engine_configs(), fault_plans(duplicates=True))
def test_configs_and_fault_plans_stay_in_range(config, plan):
    assert 1 <= config.runners <= 4
    assert 1 <= config.capacity <= 8
    assert isinstance(config.full_mode, FullMode)
    assert all(c.at_step >= 1 for c in plan.crashes)
    assert plan.describe()


def test_shapes_shrink_to_the_smallest_split():
    smallest = find(
        workflows(),
        lambda wf: any(isinstance(s, ParallelSplit) for s in wf.steps.values()),
        settings=settings(database=None, max_examples=500),
    )
    assert len(smallest.steps) == 4  # split(T | T) joined by a Synchronize


def test_expected_trails_of_a_split_and_join():
    wf = GeneratedWorkflow(Seq((Task(), Split((Task(), Task()), "sync"), Task())))
    (trail,) = wf.trails(())
    assert len(trail) == 5  # task, both branches in branch order, the join, task
    assert trail[3].startswith("join")


def test_a_discriminator_allows_either_winner():
    wf = GeneratedWorkflow(Split((Task(), Task()), "first"))
    trails = wf.trails(())
    assert trails is not None and len(trails) == 2


def test_a_scenario_plays_and_checks_its_cases():
    wf = GeneratedWorkflow(Seq((Task(), Split((Task(), Task()), "sync"))))
    h = Scenario(wf, cases=()).play(seed=0)
    assert h.submissions == []
    h = Scenario(wf).play(seed=0, max_steps=1000)
    (sub,) = h.submissions
    assert sub.result().state is JobState.DONE
    assert trail_of(sub.result().data) in wf.trails(())
    assert not wf.repeated()


def test_a_scenario_expects_a_rerun_step_only_from_a_crash_that_reruns_one():
    wf = GeneratedWorkflow(Seq((Task(), Task(), Task())))
    rerun = FaultPlan(crashes=(Crash(2, point="before_save"),))
    h = Scenario(wf, faults=rerun).play(seed=0)  # the second task runs twice, by design
    assert wf.repeated()
    assert h.submissions[0].result().state is JobState.DONE

    class Twice(GeneratedWorkflow):
        def repeated(self) -> list[tuple[str, str, str, int]]:
            return [("j1", "t2", "j1/t2", 1)]

    between = FaultPlan(crashes=(Crash(2),))
    with pytest.raises(InvariantViolation, match="a step ran twice"):
        Scenario(Twice(wf.shape), faults=between).play(seed=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows(waits=False), st.data())
def test_generated_workflows_take_the_same_paths_on_real_threads(wf, data):
    # The harness and the threaded runtime run the same actor classes: a generated
    # workflow must end with a valid trail on both (no waits: real time would pass).
    flags = data.draw(st.lists(st.booleans(), min_size=wf.flag_count, max_size=wf.flag_count))
    with Mediator([wf], runners=3, capacity=4) as engine:
        handles = [engine.schedule(wf.name, wf.data(flags)) for _ in range(3)]
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
    for job in jobs:
        assert job.state is JobState.DONE
        assert not wf.problems(job, flags)
    assert not wf.repeated()


@QUICK
@given(scenarios(faults=fault_plans()))
def test_scenarios_describe_themselves(scenario):
    assert repr(scenario).startswith("Scenario(GeneratedWorkflow(")
    assert isinstance(scenario.faults, FaultPlan)
