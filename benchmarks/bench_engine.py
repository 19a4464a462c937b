"""Engine benchmarks against the raw pykka baseline, each measured in the same invocation.

    python benchmarks/bench_engine.py w          # workload W, memory store, vs baseline
    python benchmarks/bench_engine.py million    # 1,000,000 jobs through capacity 1,000
    python benchmarks/bench_engine.py timers     # admission with 0 vs 100,000 pending timers

Every measurement runs in a fresh subprocess (so peak RSS is its own) and the engine and
the baseline alternate, so a noisy neighbour slows both rather than one. Figures are
reported as ratios to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_w(
    n: int, store: str = "memory://", runners: int = 4, tune_gc: bool = True
) -> dict[str, float]:
    """Run ``n`` W workflows through a Mediator; timed until the drain completes."""
    from workload import STEPS_PER_WORKFLOW, workload_w

    from actors import FullMode, Mediator

    mediator = Mediator(
        [workload_w()],
        runners=runners,
        capacity=1000,
        full_mode=FullMode.BACKPRESSURE,
        store=store,
        tune_gc=tune_gc,
    )
    start = time.perf_counter()
    for _ in range(n):
        mediator.schedule("w", {})
    mediator.shutdown(drain=True)
    elapsed = time.perf_counter() - start
    return {
        "workflows_per_s": n / elapsed,
        "steps_per_s": n * STEPS_PER_WORKFLOW / elapsed,
        "elapsed_s": elapsed,
        "peak_rss_mib": _peak_rss_mib(),
    }


def baseline_w(n: int) -> dict[str, float]:
    from baseline_pykka import run_baseline

    return run_baseline(n)


def floor_w(n: int, path: str) -> dict[str, float]:
    """The pykka floor for W (``--floor``, a script printing ``RESULT {json}``), run as is."""
    out = subprocess.run(
        [sys.executable, path, str(n)], check=True, capture_output=True, text=True
    ).stdout
    line = next(x for x in reversed(out.splitlines()) if x.startswith("RESULT "))
    got = json.loads(line.removeprefix("RESULT "))
    return {"workflows_per_s": got["wf_per_s"], "steps_per_s": got["steps_per_s"]}


def million(n: int) -> dict[str, float]:
    """``n`` one-step jobs through capacity 1,000 with backpressure, keeping no handles."""
    from workload import one_step

    from actors import FullMode, Mediator

    mediator = Mediator([one_step()], runners=4, capacity=1000, full_mode=FullMode.BACKPRESSURE)
    start = time.perf_counter()
    for _ in range(n):
        mediator.schedule("one", {})
    mediator.shutdown(drain=True)
    elapsed = time.perf_counter() - start
    return {"jobs_per_s": n / elapsed, "elapsed_s": elapsed, "peak_rss_mib": _peak_rss_mib()}


def timers(n: int, pending: int) -> dict[str, float]:
    """Admission rate of ``n`` one-step jobs while ``pending`` jobs wait on timers."""
    from workload import one_step

    from actors import Mediator, Sequential, Wait, Workflow

    parked = Workflow(
        "parked",
        [Wait("wait", duration=3600, next="end"), Sequential("end", lambda d: None)],
        "wait",
    )
    mediator = Mediator([one_step(), parked], runners=4, capacity=1000)
    for _ in range(pending):
        mediator.schedule("parked", {})
    while mediator.stats().timers < pending:  # setup, not timed: let every job park
        time.sleep(0.01)
    start = time.perf_counter()
    for _ in range(n):
        mediator.schedule("one", {})
    elapsed = time.perf_counter() - start
    mediator.shutdown(drain=False)
    return {"admitted_per_s": n / elapsed, "elapsed_s": elapsed}


def _subprocess(kind: str, *args: Any) -> dict[str, float]:
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_engine as b; "
        f"print(json.dumps(b.{kind}(*{args!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("what", choices=["w", "million", "timers"])
    parser.add_argument("-n", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", default="memory://")
    parser.add_argument(
        "--floor",
        default=str(HERE.parent.parent / "shared" / "bench" / "pykka_floor.py"),
        help="W's floor on pykka (a script of its own); measured beside the engine if found",
    )
    args = parser.parse_args(argv)

    if args.what == "w":
        n = args.n or 20_000
        engine, untuned, base, floor = [], [], [], []
        has_floor = Path(args.floor).is_file()
        for _ in range(args.repeat):  # interleaved: a noisy neighbour slows all alike
            base.append(_subprocess("baseline_w", n))
            if has_floor:
                floor.append(floor_w(n, args.floor))
            engine.append(_subprocess("engine_w", n, args.store))
            untuned.append(_subprocess("engine_w", n, args.store, 4, False))
        e_wf, b_wf = _median(engine, "workflows_per_s"), _median(base, "workflows_per_s")
        print(f"workload W, {n} workflows, 4 runners, store {args.store}, median of {args.repeat}")
        print(
            f"baseline  {b_wf:9,.0f} workflows/s {_median(base, 'steps_per_s'):11,.0f} steps/s"
            f"  peak RSS {_median(base, 'peak_rss_mib'):.1f} MiB"
        )
        print(
            f"engine    {e_wf:9,.0f} workflows/s {_median(engine, 'steps_per_s'):11,.0f} steps/s"
            f"  peak RSS {_median(engine, 'peak_rss_mib'):.1f} MiB"
        )
        print(f"engine / baseline = {e_wf / b_wf:.2f}")
        u_wf = _median(untuned, "workflows_per_s")
        spread = ", ".join(f"{r['workflows_per_s']:,.0f}" for r in engine)
        u_spread = ", ".join(f"{r['workflows_per_s']:,.0f}" for r in untuned)
        print(f"engine runs: {spread}; with tune_gc=False: {u_spread}")
        print(f"engine / engine with tune_gc=False = {e_wf / u_wf:.2f}")
        if floor:
            f_wf = _median(floor, "workflows_per_s")
            runs = ", ".join(
                f"{e['workflows_per_s'] / f['workflows_per_s']:.2f}"
                for e, f in zip(engine, floor, strict=True)
            )
            print(f"floor     {f_wf:9,.0f} workflows/s ({args.floor})")
            print(f"engine / floor = {e_wf / f_wf:.2f} (run by run: {runs})")
    elif args.what == "million":
        n = args.n or 1_000_000
        result = _subprocess("million", n)
        print(f"{n:,} one-step jobs, capacity 1,000, backpressure, no handles kept")
        print(
            f"{result['jobs_per_s']:,.0f} jobs/s, {result['elapsed_s']:.1f} s, "
            f"peak RSS {result['peak_rss_mib']:.1f} MiB"
        )
    else:
        n = args.n or 20_000
        idle, loaded = [], []
        for _ in range(args.repeat):
            idle.append(_subprocess("timers", n, 0))
            loaded.append(_subprocess("timers", n, 100_000))
        a, b = _median(idle, "admitted_per_s"), _median(loaded, "admitted_per_s")
        print(
            f"admission of {n:,} jobs: {a:,.0f}/s with 0 pending timers, "
            f"{b:,.0f}/s with 100,000 (ratio {b / a:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
