"""What one refresh of the dashboard's pages costs on a store of N cases.

Each figure is the median of ``--repeat`` reads, beside a baseline measured in the same
run on the same store: ``Store.counts()``, the one query ``actors status`` starts with
(a GROUP BY over every job). The store holds N finished cases of W's shape (a root and 4
branches each), 1 in 50 of them FAULTED, plus 1 in 100 unfinished and held by nobody,
and one case ``wide`` run by a worker through a split of ``--width`` branches (three
steps each, then a join), whose page reads the history of every job.

    python benchmarks/bench_dashboard.py --cases 10000 100000            # SQLite
    python benchmarks/bench_dashboard.py --store postgres --cases 10000  # a throwaway pgserver
    python benchmarks/bench_dashboard.py --url postgresql://... --cases 10000

``--url`` reads a database already there: filled on the first run (when it holds no
job), read as it is by the next ones, so two trees can be timed on the same rows,
interleaved (``PYTHONPATH=<tree>``). It also prints how many queries a refresh of the
wide case's page makes. Needs the ui extra (``pip install -e '.[ui]'``).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors._job import JobRecord
from actors.stores import open_store
from actors.ui import create_app

BRANCHES = 4

WIDE = Workflow(
    "wide",
    start="split",
    steps=[
        ParallelSplit("split", branches=lambda data: data["items"], each="fetch"),
        Sequential("fetch", lambda item: {**item, "fetched": True}, next="check"),
        Sequential("check", lambda item: {**item, "checked": True}, next="store"),
        Sequential("store", lambda item: {**item, "stored": True}, next="join"),
        Synchronize("join", next="report"),
        Sequential("report", lambda data: {**data, "reported": True}),
    ],
)


def fill(url: str, cases: int, width: int) -> None:
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
    with Mediator([WIDE], runners=2, store=url) as worker:
        items = [{"item": i} for i in range(width)]
        done = worker.schedule("wide", {"items": items}, job_id="wide").result(timeout=600)
        assert done.state is JobState.DONE, done


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def queries(store: Any, fn: Callable[[], object]) -> int:
    """How many queries ``fn()`` makes of ``store`` (each goes through ``store._read``)."""
    made = 0
    read = store._read

    def counted(*args: Any) -> Any:
        nonlocal made
        made += 1
        return read(*args)

    store._read = counted
    try:
        fn()
    finally:
        del store._read
    return made


def measure(url: str, repeat: int) -> tuple[float, float, float, float, int]:
    store = open_store(url)
    try:
        dashboard = create_app(store, [WIDE]).state.dashboard
        base = median_ms(store.counts, repeat)
        overview = median_ms(dashboard._overview, repeat)
        case = median_ms(functools.partial(dashboard._case, "case-1"), repeat)
        wide = functools.partial(dashboard._case, "wide")
        wide_ms = median_ms(wide, repeat)
        return base, overview, case, wide_ms, queries(store, wide)
    finally:
        store.close()


@contextmanager
def databases(kind: str, url: str | None) -> Iterator[Callable[[int], str]]:
    """Where each size's store goes: a fresh SQLite file or PostgreSQL database, or ``url``."""
    if url is not None:
        yield lambda _: url
        return
    with tempfile.TemporaryDirectory() as where:
        if kind == "sqlite":
            yield lambda n: f"sqlite:///{Path(where) / f'bench-{n}.db'}"
            return
        import pgserver
        import psycopg

        server = pgserver.get_server(Path(where) / "pg", cleanup_mode="delete")

        def fresh(n: int) -> str:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "bench_{n}"')
            return str(server.get_uri(f"bench_{n}"))

        try:
            yield fresh
        finally:
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--width", type=int, default=20, help="branches of the wide case")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help="a database to fill once and read (one size only)")
    args = parser.parse_args()
    print(
        "cases    counts() ms   overview ms  (ratio)   case page ms  (ratio)"
        f"   wide case ({args.width} branches) ms  queries"
    )
    with databases(args.store, args.url) as where:
        for cases in args.cases:
            url = where(cases)
            store = open_store(url)
            empty = not any(store.counts().values())
            store.close()
            if empty:
                fill(url, cases, args.width)
            base, overview, case, wide, made = measure(url, args.repeat)
            print(
                f"{cases:<8} {base:>11.1f} {overview:>13.1f}  ({overview / base:4.2f}x)"
                f" {case:>13.1f}  ({case / base:5.3f}x) {wide:>22.1f} {made:>14}"
            )


if __name__ == "__main__":
    main()
