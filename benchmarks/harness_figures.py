"""Figures for the deterministic harness: schedules explored per second, and bug searches.

    python benchmarks/harness_figures.py [--schedules 1000] [--searches 20]

1. Generated schedules per second under Hypothesis (a generated workflow, configuration,
   cases and fault plan per example; choices drawn from Hypothesis data; every invariant
   checked after every delivery), and raw harness actions per second.
2. For each bug planted in tests/testing/test_planted_bugs.py: how many examples
   Hypothesis needed to find it, over several independent searches, and the size of the
   workflow it shrank to.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors._runner import Runner
from actors._scheduler import Scheduler
from actors.testing import (
    Case,
    Deadlock,
    Duplicate,
    EngineConfig,
    FaultPlan,
    GeneratedWorkflow,
    InvariantViolation,
    Scenario,
)
from actors.testing._shapes import Seq, Split, Task
from actors.testing.strategies import engine_configs, fault_plans, scenarios, workflows

ROOT = Path(__file__).resolve().parent.parent


def planted():
    path = ROOT / "tests" / "testing" / "test_planted_bugs.py"
    spec = importlib.util.spec_from_file_location("planted_bugs", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def throughput(n: int) -> None:
    stats = {"schedules": 0, "actions": 0, "cases": 0, "crashes": 0}

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        scenarios(
            workflows=workflows(requests=True),
            configs=engine_configs(),
            faults=fault_plans(),
        ),
        st.data(),
    )
    def run(scenario, data):
        h = scenario.play(data=data)
        stats["schedules"] += 1
        stats["actions"] += h.actions
        stats["cases"] += len(h.submissions)
        stats["crashes"] += len(h.monitor.crashes)

    began = time.perf_counter()
    run()
    took = time.perf_counter() - began
    print(
        f"{stats['schedules']} generated schedules in {took:.1f}s: "
        f"{stats['schedules'] / took:.0f} schedules/s, {stats['actions'] / took:.0f} actions/s "
        f"({stats['cases']} cases, {stats['crashes']} injected crashes)"
    )


def raw(runs: int) -> None:
    # One fixed scenario (standard workload W's shape: A, a split into 4 branches of 3
    # steps, a join, B; 3 cases; 4 runners) replayed under many seeds: the harness alone.
    branch = Seq((Task(), Task(), Task()))
    shape = Seq((Task(), Split((branch, branch, branch, branch), "sync"), Task()))
    scenario = Scenario(
        GeneratedWorkflow(shape), EngineConfig(runners=4, capacity=8), (Case(), Case(), Case())
    )
    actions = 0
    began = time.perf_counter()
    for seed in range(runs):
        actions += scenario.play(seed=seed).actions
    took = time.perf_counter() - began
    print(
        f"{runs} seeded runs of workload W x3 cases: {runs / took:.0f} runs/s, "
        f"{actions / took:.0f} actions/s (invariants checked after every action)"
    )


def search(strategy, substitutions, expected) -> tuple[int, int]:
    tried = [0]
    first: list[int] = []
    seen: list = []

    @settings(
        max_examples=settings.get_profile("default").max_examples,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy, st.data())
    def run(scenario, data):
        tried[0] += 1
        try:
            scenario.play(data=data, substitutions=substitutions)
        except expected:
            if not first:
                first.append(tried[0])
            seen.append(scenario)
            raise

    try:
        run()
    except expected:
        return first[0], len(seen[-1].workflow.steps)
    return -1, -1


def searches(n: int) -> None:
    bugs = planted()
    duplicated = st.builds(Duplicate, message=st.just("BranchArrived"), nth=st.integers(1, 4))
    cases = {
        "(a) spawns obey the admission bound -> Deadlock": (
            scenarios(workflows=workflows(), cancels=False),
            {Scheduler: bugs.SpawnThroughGateScheduler, Runner: bugs.BlockingSplitRunner},
            Deadlock,
        ),
        "(b) Synchronize counts a duplicated arrival -> early join": (
            scenarios(
                workflows=workflows(),
                faults=st.builds(
                    FaultPlan,
                    duplicates=st.lists(duplicated, min_size=1, max_size=2).map(tuple),
                ),
                cancels=False,
            ),
            {Scheduler: bugs.CountingScheduler},
            InvariantViolation,
        ),
    }
    for name, (strategy, subs, expected) in cases.items():
        found, sizes = [], []
        began = time.perf_counter()
        for _ in range(n):
            examples, steps = search(strategy, subs, expected)
            found.append(examples)
            sizes.append(steps)
        took = time.perf_counter() - began
        misses = found.count(-1)
        hits = [f for f in found if f > 0]
        print(
            f"{name}: found in {n - misses}/{n} searches; examples to find: "
            f"min {min(hits)}, median {statistics.median(hits)}, mean "
            f"{statistics.mean(hits):.1f}, max {max(hits)}; shrunk to "
            f"{sorted(set(sizes))} steps; {took / n:.2f}s per search"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=20)
    args = parser.parse_args()
    throughput(args.schedules)
    raw(args.schedules // 2)
    searches(args.searches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
