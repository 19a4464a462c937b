"""What one refresh of the dashboard's pages costs on a SQLite store of N cases.

Each figure is the median of ``--repeat`` reads, beside a baseline measured in the same
run on the same store: ``Store.counts()``, the one query ``actors status`` starts with
(a GROUP BY over every job). The store holds N finished cases of W's shape (a root and 4
branches each), 1 in 50 of them FAULTED, plus 1 in 100 unfinished and held by nobody.

    python benchmarks/bench_dashboard.py --cases 10000 100000

Needs the ui extra (``pip install -e '.[ui]'``).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from actors import JobState
from actors._job import JobRecord
from actors.stores import open_store
from actors.ui import create_app

BRANCHES = 4


def fill(url: str, cases: int) -> None:
    store = open_store(url)
    batch: list[JobRecord] = []
    for n in range(cases):
        case = f"case-{n}"
        final = n % 100 != 0
        state = JobState.FAULTED if n % 50 == 1 else JobState.DONE
        root = JobRecord(
            id=case,
            case_id=case,
            workflow="w",
            version=1,
            step="B" if final else "A",
            data={"n": n},
            state=state if final else JobState.READY,
            error="step 'b0s1': ValueError: boom" if state is JobState.FAULTED else None,
        )
        batch.append(root)
        for b in range(BRANCHES):
            branch = JobRecord.branch(f"{case}.{b}", case, "w", 1, "join", {}, case, b, 0)
            branch.state = JobState.DONE
            batch.append(branch)
        if len(batch) >= 5000:
            store.create_many(batch)
            batch = []
    if batch:
        store.create_many(batch)
    store.close()


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("cases    counts() ms   overview ms  (ratio)   case page ms  (ratio)")
    for cases in args.cases:
        with tempfile.TemporaryDirectory() as where:
            url = f"sqlite:///{Path(where) / 'bench.db'}"
            fill(url, cases)
            store = open_store(url)
            dashboard = create_app(store).state.dashboard
            base = median_ms(store.counts, args.repeat)
            overview = median_ms(dashboard._overview, args.repeat)
            case = median_ms(functools.partial(dashboard._case, "case-1"), args.repeat)
            store.close()
        print(
            f"{cases:<8} {base:>11.1f} {overview:>13.1f}  ({overview / base:4.2f}x)"
            f" {case:>13.1f}  ({case / base:5.3f}x)"
        )


if __name__ == "__main__":
    main()
