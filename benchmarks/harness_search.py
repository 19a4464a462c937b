"""Harness search figures: schedules per second, and what each search strategy finds.

    python benchmarks/harness_search.py [--schedules 600] [--budget 200] [--against DIR]

1. Schedules explored per second on workload W with one case (each schedule: a fresh
   harness, the case admitted, run to the end, every invariant checked after every
   action), with a choice point between steps (the default) and without, and with the
   checks off; the raw pykka baseline for W, measured in the same run, as the yardstick.
   With ``--against DIR`` (another source tree of this project, e.g. an export of main):
   the default rate of that tree's harness and of this one, each in its own process,
   interleaved (9 rounds), in CPU time, each round's ratio and the medians'. Then
   ``explore()`` with one worker and with one per core (``workers=``), wall clock,
   interleaved.
2. For the same budget of runs per strategy (uniform random seeds, PCT depth 2 and 3,
   exhaustive depth-first search), on bugs a user writes in tasks: how many distinct
   schedules each explored and which bugs it found (and after how many runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_pykka import run_baseline
from workload import workload_w

from actors import ParallelSplit, Sequential, Synchronize, Workflow
from actors.testing import PCT, Harness, HarnessError, explore
from actors.testing._search import ScriptChooser

W = workload_w()


def schedules_per_second(n: int, **options: Any) -> float:
    began = time.perf_counter()
    for seed in range(n):
        with Harness([W], seed=seed, **options) as h:
            h.schedule("w", {})
            h.finish()
    return n / (time.perf_counter() - began)


def _scenario(h: Harness) -> None:
    h.schedule("w", {})
    h.finish()


def explored_per_second(n: int, workers: int) -> float:
    """``explore`` of ``n`` seeds of W with one case, wall clock (``workers`` processes)."""
    began = time.perf_counter()
    explore(_scenario, runs=n, workers=workers, workflows=[W])
    return n / (time.perf_counter() - began)


def parallel(n: int, rounds: int = 5) -> None:
    """``explore(workers=1)`` against ``explore(workers=cores)``, interleaved, wall clock."""
    cores = os.cpu_count() or 1
    rates: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(rounds):
        for workers, got in rates.items():
            got.append(explored_per_second(n, workers))
    one, many = (statistics.median(r) for r in rates.values())
    print(f"\nexplore() of {n} seeds, wall clock, {rounds} interleaved rounds (median):")
    print(f"  workers=1: {one:,.0f} schedules/s")
    print(f"  workers={cores}: {many:,.0f} schedules/s ({many / one:.2f} x)")


def throughput(n: int) -> None:
    rounds = 3
    floor = statistics.median(run_baseline(2000)["workflows_per_s"] for _ in range(rounds))
    print(f"raw pykka baseline, W: {floor:,.0f} workflows/s (median of {rounds})")
    for label, options in (
        ("default (choice between steps, checks on)", {}),
        ("steps back to back (between_steps=False)", {"between_steps": False}),
        ("checks off (check=False)", {"check": False}),
    ):
        rate = statistics.median(schedules_per_second(n, **options) for _ in range(rounds))
        print(
            f"  {label}: {rate:,.0f} schedules/s of W with one case "
            f"({rate / floor:.3f} x the baseline's workflows/s)"
        )


_ONE_TREE = """
import sys, time
sys.path.insert(0, "benchmarks")
from workload import workload_w
from actors.testing import Harness
W = workload_w()
def rate(n):
    began = time.process_time()
    for seed in range(n):
        with Harness([W], seed=seed) as h:
            h.schedule("w", {})
            h.finish()
    return n / (time.process_time() - began)
rate(100)
print(rate(int(sys.argv[1])))
"""


def against(other: Path, n: int, rounds: int = 9) -> None:
    """This tree's harness against ``other``'s, interleaved, one process per measurement."""
    here = Path(__file__).resolve().parent.parent
    rates: dict[Path, list[float]] = {other: [], here: []}
    print(f"\nCPU time, {rounds} interleaved rounds of {n} schedules:")
    for round_ in range(rounds):
        trees = list(rates.items())
        for tree, got in trees if round_ % 2 == 0 else trees[::-1]:  # neither always first
            env = {**os.environ, "PYTHONPATH": str(tree)}
            out = subprocess.run(
                [sys.executable, "-c", _ONE_TREE, str(n)],
                cwd=tree, env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            got.append(float(out.stdout))
        was, now = rates[other][-1], rates[here][-1]
        print(f"  round {round_}: {was:,.0f} against {now:,.0f} ({now / was:.2f} x)")
    base, this = (statistics.median(r) for r in rates.values())
    ratios = [b / a for a, b in zip(*rates.values(), strict=True)]
    print(f"  median {other}: {base:,.0f} schedules/s")
    print(f"  median {here}: {this:,.0f} schedules/s ({this / base:.2f} x; rounds "
          f"{min(ratios):.2f} x to {max(ratios):.2f} x)")  # fmt: skip


# -- bugs users write ------------------------------------------------------------------------

SHARED: dict[str, Any] = {}


def _lost_update() -> tuple[Workflow, Any]:
    def read(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "seen": SHARED["n"]}

    def write(d: dict[str, Any]) -> None:
        SHARED["n"] = d["seen"] + 1

    flow = Workflow("count", start="split", steps=[
        ParallelSplit("split", branches=["a", "b"]),
        Sequential("a", read, next="a2"), Sequential("a2", write, next="join"),
        Sequential("b", read, next="b2"), Sequential("b2", write, next="join"),
        Synchronize("join", merge=lambda p, _: p),
    ])  # fmt: skip
    return flow, lambda: SHARED["n"] == 2


def _double_booking() -> tuple[Workflow, Any]:
    def check(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "free": SHARED["seats"] > 0}

    def book(d: dict[str, Any]) -> None:
        if d["free"]:
            SHARED["seats"] -= 1

    flow = Workflow("book", start="split", steps=[
        ParallelSplit("split", branches=["x", "y", "z"]),
        *(Sequential(b, check, next=f"{b}2") for b in "xyz"),
        *(Sequential(f"{b}2", book, next="join") for b in "xyz"),
        Synchronize("join", merge=lambda p, _: p),
    ])  # fmt: skip
    return flow, lambda: SHARED["seats"] >= 0


def _order_assumed() -> tuple[Workflow, Any]:
    def setup(d: dict[str, Any]) -> None:
        SHARED["ready"] = True

    def prepare(d: dict[str, Any]) -> None:
        pass

    def use(d: dict[str, Any]) -> None:
        if not SHARED.get("ready"):
            SHARED["broken"] = True

    flow = Workflow("order", start="split", steps=[
        ParallelSplit("split", branches=["first", "second"]),
        Sequential("first", prepare, next="first2"), Sequential("first2", setup, next="join"),
        Sequential("second", use, next="join"),
        Synchronize("join", merge=lambda p, _: p),
    ])  # fmt: skip
    return flow, lambda: not SHARED.get("broken")


BUGS = {
    "lost update (2 branches)": _lost_update,
    "double booking (3 branches, last seat)": _double_booking,
    "branch order assumed": _order_assumed,
}


def _fresh() -> None:
    SHARED.clear()
    SHARED.update(n=0, seats=1)


def _run(flow: Workflow, ok: Any, **options: Any) -> tuple[bool, tuple[Any, ...]]:
    _fresh()
    with Harness([flow], runners=2, **options) as h:
        h.schedule(flow.name, {})
        try:
            h.finish()
        except HarnessError:
            failed = True
        else:
            failed = not ok()
        trace = tuple((e.actor, e.action, e.job, e.detail) for e in h.trace)
    return failed, trace


def compare(budget: int) -> None:
    print(f"\nsearch strategies, {budget} runs each (runners=2, one case):")
    strategies = {
        "random": lambda seed: {"seed": seed},
        "PCT d=2": lambda seed: {"seed": seed, "strategy": PCT(depth=2, steps=30)},
        "PCT d=3": lambda seed: {"seed": seed, "strategy": PCT(depth=3, steps=30)},
    }
    for name, make in BUGS.items():
        flow, ok = make()
        print(f"  {name}:")
        for label, options in strategies.items():
            traces, first = set(), None
            for seed in range(budget):
                failed, trace = _run(flow, ok, **options(seed))
                traces.add(trace)
                if failed and first is None:
                    first = seed + 1
            found = f"found after {first} run(s)" if first else "not found"
            print(f"    {label:<11} {len(traces):>4} distinct schedules; {found}")
        traces, first, script, runs = set(), None, [], 0
        while script is not None and runs < budget:
            chooser = ScriptChooser(script)
            failed, trace = _run(flow, ok, chooser=chooser)
            runs += 1
            traces.add(trace)
            if failed and first is None:
                first = runs
            script = chooser.following()
        complete = " (every schedule)" if script is None else ""
        found = f"found after {first} run(s)" if first else "not found"
        print(f"    {'exhaustive':<11} {len(traces):>4} distinct schedules{complete}; {found}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=600)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--against", type=Path, help="another source tree to compare with")
    args = parser.parse_args()
    throughput(args.schedules)
    parallel(max(args.schedules, 1000))
    if args.against is not None:
        against(args.against, args.schedules)
    compare(args.budget)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
