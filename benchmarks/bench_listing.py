"""What one page of ``Admin.jobs()`` (``actors jobs list``) costs on SQLite at N jobs.

The store holds N jobs: cases of a root and 4 branches, 1 case in 50 FAULTED, of two
workflows; stored 5,000 jobs a transaction (each batch shares its creation time). Each
figure is the median of ``--repeat`` reads of one page of 50: the default listing,
``--state faulted``, ``--workflow w``, ``--cases``, and (where the tree has cursors) the
second page by its cursor.

    python benchmarks/bench_listing.py --jobs 1000 10000 100000
    python benchmarks/bench_listing.py --against /tmp/base   # that tree too, interleaved

With ``--against``, each size runs in a process of its own for each tree, alternating,
``--rounds`` times; the ratio to read is this tree's page time against that tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LISTINGS: dict[str, dict[str, Any]] = {
    "all": {},
    "faulted": {"state": "faulted"},
    "workflow": {"workflow": "w"},
    "cases": {"cases_only": True},
}


def fill(url: str, jobs: int) -> None:
    from actors import JobState
    from actors._job import JobRecord
    from actors.stores import open_store

    store = open_store(url)
    batch: list[JobRecord] = []
    for n in range(jobs // 5):
        case = f"case-{n}"
        faulted = n % 50 == 1
        wf = "w" if n % 2 else "v"
        batch.append(
            JobRecord(
                case,
                case,
                wf,
                1,
                "B",
                {"n": n},
                state=JobState.FAULTED if faulted else JobState.DONE,
            )
        )
        for b in range(4):
            branch = JobRecord.branch(f"{case}.{b}", case, wf, 1, "join", {}, case, b, 0)
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


def measure(jobs: int, repeat: int) -> dict[str, float]:
    """Page times in ms at ``jobs`` jobs, with the tree on ``sys.path``."""
    from actors.admin import Admin
    from actors.stores import open_store

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as where:
        url = f"sqlite:///{Path(where) / 'bench.db'}"
        fill(url, jobs)
        store = open_store(url, read_only=True)
        admin = Admin(store)
        for name, kwargs in LISTINGS.items():
            out[name] = median_ms(lambda kwargs=kwargs: admin.jobs(limit=50, **kwargs), repeat)
        cursor = getattr(admin.jobs(limit=50), "next_cursor", None)
        if cursor is not None:
            out["page 2"] = median_ms(lambda: admin.jobs(limit=50, after=cursor), repeat)
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", default=None, help="another tree, measured interleaved")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:  # one size in this process, as JSON
        print(json.dumps(measure(args.one, args.repeat)))
        return
    here = str(Path(__file__).resolve().parent.parent)
    trees = {"this": here} if args.against is None else {"base": args.against, "this": here}
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for jobs in args.jobs:
            for name, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": tree}
                command = [
                    sys.executable,
                    __file__,
                    "--one",
                    str(jobs),
                    "--repeat",
                    str(args.repeat),
                ]
                text = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                runs.setdefault((name, jobs), []).append(json.loads(text.stdout))
    for (name, jobs), results in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for listing in [*LISTINGS, "page 2"]:
            values = [r[listing] for r in results if listing in r]
            if values:
                each = ", ".join(f"{v:.2f}" for v in values)
                cells.append(f"{listing} {statistics.median(values):.2f} ms ({each})")
        print(f"{name:<5} {jobs:>7,} jobs: " + "; ".join(cells))


if __name__ == "__main__":
    main()
