"""Workload W on the durable stores, beside each database's raw commit rate, in one run.

    python benchmarks/bench_durable.py [-n 2000] [--workers-n 2000] [--repeat 3]

For SQLite (WAL) and PostgreSQL (a throwaway pgserver) it prints the raw commit rate (one
small UPDATE per transaction), then W's workflows/s with 4 runners in each commit mode:
``step`` (every save its own transaction), ``slice`` (a runner's saves of one job in one
transaction) and ``group`` (every runner's slices, many per transaction, on the store's
writer thread). Each figure is the median of ``--repeat`` runs, the modes interleaved,
and is shown as saves per second against the raw commit rate, with the transactions per
workflow. ``group+process`` stores SQLite's groups in a writer process
(``writer="process"``). Then W run by one and by two worker processes (``actors worker``)
sharing the PostgreSQL database (``--sqlite-workers``: on one SQLite file too), the two
interleaved as well: over the whole run with the workers' start-up included (the cases
enqueued first), over the whole run with the workers started first (timed from the first
enqueue to the last case done), and in the steady state (from a fifth of the workflows
done to four fifths). Each worker run also prints the cores it kept busy (the workers,
the server and this process), and each table the most two workers could then be against
one on this machine (see ``durable_workers.py``, which runs them).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import durable_workers  # noqa: E402
from durable_workers import workers_table  # noqa: E402
from workload import workload_w  # noqa: E402

from actors import Mediator  # noqa: E402
from actors.stores import open_store  # noqa: E402


def raw_sqlite(path: str, seconds: float = 2.0) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, n INTEGER)")
    conn.execute("INSERT OR IGNORE INTO t VALUES (1, 0)")
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE t SET n = n + 1 WHERE id = 1")
        conn.execute("COMMIT")
        n += 1
    conn.close()
    return n / seconds


def raw_postgres(url: str, seconds: float = 2.0) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, n INTEGER)")
        conn.execute("INSERT INTO t VALUES (1, 0) ON CONFLICT DO NOTHING")
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            conn.execute("UPDATE t SET n = n + 1 WHERE id = 1")
            n += 1
    return n / seconds


def engine_w(
    url: str, n: int, commit: str, producers: int = 1, batch: int = 1, **options: Any
) -> dict[str, float]:
    """W through one Mediator; workflows/s, and the saves and transactions per workflow.

    ``producers`` threads call ``schedule()`` (each waits until its case is stored), or
    with ``batch`` > 1, ``schedule_many()`` with that many cases at a time.
    """
    store = open_store(url, commit=commit, **options)
    mediator = Mediator([workload_w()], runners=4, capacity=1000, store=store)

    def produce(count: int) -> None:
        if batch > 1:
            for first in range(0, count, batch):
                mediator.schedule_many("w", [{} for _ in range(min(batch, count - first))])
            return
        for _ in range(count):
            mediator.schedule("w", {})

    threads = [
        threading.Thread(target=produce, args=(n // producers + (i < n % producers),))
        for i in range(producers)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mediator.shutdown(drain=True)
    rate = n / (time.perf_counter() - start)
    writer = getattr(store, "_writer", None)
    check = open_store(url)  # the Mediator closed its store on shutdown
    # Every save appends one step-history row.
    saves = check._read("SELECT COUNT(*) FROM step_history", (), "count saves")[0][0]  # type: ignore[attr-defined]
    check.close()
    out = {"wf_s": rate, "saves": saves / n}
    if writer is not None:
        out["commits"] = writer.groups / n
        out["slices_per_commit"] = writer.slices / max(1, writer.groups)
    return out


def fresh_pg(server: Any, name: str) -> str:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(name))


def median(values: list[float]) -> float:
    return statistics.median(values)


def engine_table(
    name: str,
    url_of: Any,
    raw: float,
    n: int,
    repeat: int,
    modes: tuple[str, ...],
) -> None:
    # A mode "group/8" is group commit with 8 producer threads (the others have one);
    # "group@100": one producer admitting batches of 100 with schedule_many();
    # "group+process": SQLite's group transactions run in a writer process; "group~0":
    # group commit with group_wait=0 (the writer never waits for more slices).
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for r in range(repeat):
        for mode in modes:  # interleaved: the machine's drift hits every mode alike
            mode_, _, wait = mode.partition("~")
            rest, _, batch = mode_.partition("@")
            rest, _, many = rest.partition("/")
            commit, _, writer = rest.partition("+")
            options: dict[str, Any] = {"writer": writer} if writer else {}
            if wait:
                options["group_wait"] = float(wait)
            url = url_of(
                f"{commit}_{writer or 'thread'}_{many or 1}_{batch or 1}_{wait or 'w'}_{r}"
            )
            runs[mode].append(engine_w(url, n, commit, int(many or 1), int(batch or 1), **options))
    for mode in modes:
        wf = median([run["wf_s"] for run in runs[mode]])
        saves = median([run["saves"] for run in runs[mode]])
        each = ", ".join(f"{run['wf_s']:,.0f}" for run in runs[mode])
        extra = ""
        if "commits" in runs[mode][0]:
            per = median([run["slices_per_commit"] for run in runs[mode]])
            commits = median([run["commits"] for run in runs[mode]])
            extra = f", {commits:.2f} transactions per workflow, {per:.1f} slices each"
        print(
            f"{name} W, commit={mode:<17} {wf:8,.0f} workflows/s "
            f"(runs: {each}); "
            f"{saves:.0f} saves per workflow = {wf * saves / raw:.0%} of raw commits/s{extra}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--workers-n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--modes",
        default="step,slice,group,group/8,group@100,group+process@100",
        help="commit modes; mode/N: N producer threads instead of one; mode@B: batches of B; "
        "group+process: SQLite's writer process (left out on PostgreSQL); group~S: "
        "group_wait=S seconds",
    )
    parser.add_argument("--worker-modes", default="group,step")
    parser.add_argument("--worker-capacity", type=int, default=200, help="each worker's --capacity")
    parser.add_argument("--workers-only", action="store_true")
    parser.add_argument(
        "--sqlite-workers",
        action="store_true",
        help="also one and two worker processes on one SQLite file (they share its lock)",
    )
    args = parser.parse_args()
    durable_workers.WORKER_CAPACITY = args.worker_capacity  # read by every worker run
    modes = () if args.workers_only else tuple(args.modes.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="actors-bench-"))
    raw = raw_sqlite(str(tmp / "raw.db"))
    print(f"SQLite raw commits/s {raw:10,.0f}")
    engine_table(
        "SQLite",
        lambda name: f"sqlite:///{tmp / f'w-{name}.db'}",
        raw,
        args.n,
        args.repeat,
        modes,
    )
    import pgserver

    where = Path(tempfile.mkdtemp(prefix="actors-bench-pg-"))
    server = pgserver.get_server(where, cleanup_mode="delete")
    try:
        raw = raw_postgres(fresh_pg(server, "raw"))
        print(f"PostgreSQL raw commits/s {raw:10,.0f}")
        engine_table(
            "PostgreSQL",
            lambda name: fresh_pg(server, f"w_{name}"),
            raw,
            args.n,
            args.repeat,
            tuple(mode for mode in modes if "+" not in mode),
        )
        for commit in filter(None, args.worker_modes.split(",")):  # "": no workers run
            workers_table(
                "PostgreSQL",
                lambda name: fresh_pg(server, name),
                args.workers_n,
                args.repeat,
                commit,
                server=server.get_pid(),
            )
            if args.sqlite_workers:
                workers_table(
                    "SQLite",
                    lambda name: f"sqlite:///{tmp / f'{name}.db'}",
                    args.workers_n,
                    args.repeat,
                    commit,
                )
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
