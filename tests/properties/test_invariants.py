"""DESIGN.md's six invariants, one property each, on the real engine under the harness.

Every scenario is a generated valid workflow, an engine configuration (runners 1-4,
capacity 1-8, every full mode), several cases scheduled at generated moments (some
cancelled), and a generated fault plan. The harness checks all six invariants after
every delivery and fails the example on the first violation; each property below also
asserts its own invariant from the harness's records at the end of the run. Choices are
drawn from Hypothesis data, so a failure shrinks to a small workflow and interleaving.

Budget: ``SCHEDULES`` examples per property (200 under the ``ci`` profile: 1,200
generated schedules in all, well under a minute on one core).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import FullMode, JobState
from actors._job import FINAL_STATES
from actors.testing import Harness, Scenario
from actors.testing.strategies import engine_configs, fault_plans, scenarios, workflows

SCHEDULES = {"ci": 200, "explore": 2000}.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 40)
BUDGET = settings(
    max_examples=SCHEDULES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

any_faults = fault_plans()  # crashes between steps, and ones that run a step again
# Crashes between steps only: on the memory store they run no step twice, which the
# scenario checks then.
some_crash = fault_plans(points=("before_step",), stalls=False, events=False).filter(
    lambda plan: bool(plan.crashes)
)


def play(scenario: Scenario, data: st.DataObject) -> Harness:
    return scenario.play(data=data)


@BUDGET
@given(
    scenarios(workflows=workflows(requests=True), configs=engine_configs(), faults=any_faults),
    st.data(),
)
def test_every_admitted_job_ends_done_faulted_or_cancelled_or_is_reported_shed(scenario, data):
    h = play(scenario, data)
    for sub in h.submissions:
        if sub.handle is None:  # refused at the door (DROP_NEWEST): never admitted
            assert scenario.config.full_mode is FullMode.DROP_NEWEST
            continue
        job = sub.result()
        assert job.state in FINAL_STATES
        assert job.state is not JobState.SHED or scenario.config.full_mode is FullMode.DROP_OLDEST
    unfinished = {s: n for s, n in h.store.counts().items() if s not in FINAL_STATES and n}
    assert not unfinished, f"jobs left unfinished in the store: {unfinished}"


@BUDGET
@given(
    scenarios(
        workflows=workflows(),
        configs=engine_configs(runners=(2, 4), runner_batch=(1, 2, 5)),
        faults=any_faults,
    ),
    st.data(),
)
def test_a_job_is_run_by_at_most_one_runner_at_a_time(scenario, data):
    h = play(scenario, data)
    assert not [v for v in h.monitor.violations if v.startswith("invariant 2")]
    assert h.monitor.steps_checked == h.faults.steps  # every step's runner was checked
    if any(s.done and s.result().state is JobState.DONE for s in h.submissions):
        assert h.monitor.steps_checked > 0


@BUDGET
@given(
    scenarios(
        workflows=workflows(max_size=12),
        faults=fault_plans(events=False, duplicates=True),
    ),
    st.data(),
)
def test_a_synchronize_fires_exactly_once_per_split_after_all_its_branches(scenario, data):
    h = play(scenario, data)
    monitor = h.monitor
    assert all(n == 1 for n in monitor.fires.values()), monitor.fires
    assert set(monitor.fires) <= monitor.releases  # every join that ran had been released
    for key in monitor.releases:
        assert monitor.arrivals.get(key), f"split {key} released before any branch arrived"


@BUDGET
@given(
    scenarios(
        workflows=workflows(requests=True),
        configs=engine_configs(),
        faults=any_faults,
        max_cases=6,
    ),
    st.data(),
)
def test_no_configuration_of_capacity_full_mode_runners_and_shape_deadlocks(scenario, data):
    h = play(scenario, data)  # finish() raises Deadlock if anything is left stuck
    assert not h.runtime.blockers
    assert all(s.done or s.refused is not None for s in h.submissions)


@BUDGET
@given(
    scenarios(workflows=workflows(max_size=12), configs=engine_configs(), faults=some_crash),
    st.data(),
)
def test_after_a_crash_each_branch_resumes_from_its_last_saved_step(scenario, data):
    h = play(scenario, data)  # the scenario also asserts no task ran twice
    monitor = h.monitor
    resumed = {job for job, _ in monitor.resumes}
    if h.faults.steps >= min(c.at_step for c in scenario.faults.crashes):
        assert monitor.crashes  # the plan crashed a runner once enough steps ran
    for _, job_id, _ in monitor.crashes:
        final = h.store.get(job_id)
        assert final is not None and final.state in FINAL_STATES
        # Checked when it ran its next step: that step and its data were its last save.
        assert job_id in resumed or final.state is JobState.CANCELLED, job_id


@BUDGET
@given(
    scenarios(
        workflows=workflows(),
        configs=engine_configs(capacity=(1, 3)),
        faults=any_faults,
        max_cases=8,
    ),
    st.data(),
)
def test_jobs_admitted_and_not_started_stay_within_capacity(scenario, data):
    h = play(scenario, data)
    capacity = scenario.config.capacity
    assert h.monitor.peak_unstarted <= capacity
    assert h.probe.gate.peak <= capacity
