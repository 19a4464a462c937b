"""Workload W on the durable stores, beside each database's raw commit rate, in one run.

    python benchmarks/bench_durable.py [-n 2000] [--workers-n 2000]

For SQLite (WAL) and PostgreSQL (a throwaway pgserver) it prints: the raw commit rate
(one small UPDATE per transaction), and W's workflows/s with 4 runners, saving after every
step (``commit="step"``) and grouping a runner's saves per job slice (``commit="slice"``),
each also as a ratio to the raw rate (in transactions). Then W on PostgreSQL run by one and
by two worker processes (``actors worker``) sharing the database.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workload import workload_w  # noqa: E402

from actors import Mediator, enqueue  # noqa: E402
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


def engine_w(url: str, n: int, commit: str) -> float:
    store = open_store(url, commit=commit)
    mediator = Mediator([workload_w()], runners=4, capacity=1000, store=store)
    start = time.perf_counter()
    for _ in range(n):
        mediator.schedule("w", {})
    mediator.shutdown(drain=True)
    return n / (time.perf_counter() - start)


def workers_w(url: str, n: int, workers: int, commit: str = "step") -> float:
    flow = workload_w()
    store = open_store(url)
    for _ in range(n):
        enqueue(store, flow, {})
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "actors",
        "worker",
        "--store",
        url,
        "--workflows",
        "workload:W",
        "--runners",
        "4",
        "--capacity",
        "200",
        "--commit",
        commit,
        "--log-level",
        "ERROR",
    ]
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env) for _ in range(workers)]
    try:
        while True:
            if any(p.poll() is not None for p in procs):
                msg = "a worker exited early"
                raise RuntimeError(msg)
            counts = store.counts()
            if sum(v for k, v in counts.items() if not k.is_final) == 0:
                break
            time.sleep(0.05)  # polling the database from outside
        elapsed = time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        store.close()
    return n / elapsed


def fresh_pg(server: Any, name: str) -> str:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--workers-n", type=int, default=2000)
    parser.add_argument("--workers-only", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="actors-bench-"))
    saves_per_wf = 27  # store writes per W workflow, counted (commits are fewer: grouped)
    raw = raw_sqlite(str(tmp / "raw.db"))
    print(f"SQLite raw commits/s {raw:10,.0f}")
    for commit in () if args.workers_only else ("step", "slice"):
        wf = engine_w(f"sqlite:///{tmp / f'w-{commit}.db'}", args.n, commit)
        share = wf * saves_per_wf / raw
        print(
            f"SQLite W, commit={commit:<5} {wf:8,.0f} workflows/s "
            f"(saves/s = {share:.0%} of raw commits/s)"
        )
    import pgserver

    where = Path(tempfile.mkdtemp(prefix="actors-bench-pg-"))
    server = pgserver.get_server(where, cleanup_mode="delete")
    try:
        raw = raw_postgres(fresh_pg(server, "raw"))
        print(f"PostgreSQL raw commits/s {raw:10,.0f}")
        for commit in () if args.workers_only else ("step", "slice"):
            wf = engine_w(fresh_pg(server, f"w_{commit}"), args.n, commit)
            share = wf * saves_per_wf / raw
            print(
                f"PostgreSQL W, commit={commit:<5} {wf:8,.0f} workflows/s "
                f"(saves/s = {share:.0%} of raw commits/s)"
            )
        for commit in ("step", "slice"):
            one = workers_w(fresh_pg(server, f"one_{commit}"), args.workers_n, 1, commit)
            two = workers_w(fresh_pg(server, f"two_{commit}"), args.workers_n, 2, commit)
            print(f"PostgreSQL W, commit={commit:<5} 1 worker  {one:8,.0f} workflows/s")
            print(
                f"PostgreSQL W, commit={commit:<5} 2 workers {two:8,.0f} workflows/s "
                f"({two / one:.2f}x one)"
            )
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
