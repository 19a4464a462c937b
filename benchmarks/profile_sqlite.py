"""Where W's time goes on SQLite with no options: CPU per thread, and the SQL of each.

    python benchmarks/profile_sqlite.py threads     # CPU per workflow of each thread
    python benchmarks/profile_sqlite.py sql         # time and count of each statement kind
    python benchmarks/profile_sqlite.py plans       # statements whose plan scans a table

W runs as ``bench_dbos.py`` runs it (``Mediator(store="sqlite:///...")``, no other option,
one producer calling ``schedule``), in this process, with the threads' CPU read from
``time.thread_time`` as each ends. ``sql`` wraps every connection's ``execute`` and
``executemany`` and times them in the calling thread's CPU (SQLite's own work included);
``plans`` asks SQLite for the plan of every distinct statement the run executed and lists
those that scan one of the store's tables, whose cost grows with the store. Compare two
trees by running this in each (``PYTHONPATH=<tree>``), interleaved.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import workload_w

from actors import Mediator

TABLES = ("jobs", "step_history", "join_arrivals", "join_counts", "job_requests")


def _run_w(path: str, n: int) -> float:
    """``n`` W workflows on a fresh SQLite file; the run's workflows/s."""
    mediator = Mediator([workload_w()], store=f"sqlite:///{path}")
    began = time.perf_counter()
    for _ in range(n):
        mediator.schedule("w", {})
    mediator.shutdown(drain=True)
    return n / (time.perf_counter() - began)


def _thread_kind(thread: threading.Thread) -> str:
    if thread is threading.main_thread():
        return "producer (schedule)"
    return re.sub(r"[-_][0-9a-f]+$", "", thread.name)  # Runner-1 -> Runner, writer-7f.. -> writer


def threads(path: str, n: int) -> None:
    """CPU per workflow of each kind of thread (all runners together)."""
    cpu: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    run = threading.Thread.run

    def timed(self: threading.Thread) -> None:
        try:
            run(self)
        finally:
            with lock:
                cpu[_thread_kind(self)] += time.thread_time()

    threading.Thread.run = timed  # type: ignore[method-assign]
    began_cpu, began_main = time.process_time(), time.thread_time()
    rate = _run_w(path, n)
    cpu[_thread_kind(threading.main_thread())] += time.thread_time() - began_main
    total = time.process_time() - began_cpu
    print(f"{rate:,.0f} workflows/s; process CPU {total / n * 1e3:.3f} ms per workflow")
    for kind, seconds in cpu.most_common():
        print(f"  {kind:24s} {seconds / n * 1e3:.3f} ms per workflow")


def _traced_connections(record: Any) -> None:
    """Make every new sqlite3 connection call ``record(kind, sql, params, seconds, rows)``."""
    connect = sqlite3.connect

    def make(base: type[sqlite3.Connection]) -> type[sqlite3.Connection]:
        class Timed(base):  # type: ignore[misc, valid-type]
            def execute(self, sql: str, params: Any = (), /) -> sqlite3.Cursor:
                began = time.thread_time()
                cursor = super().execute(sql, params)
                record("execute", sql, params, time.thread_time() - began, 1)
                return cursor

            def executemany(self, sql: str, many: Any, /) -> sqlite3.Cursor:
                many = list(many)
                began = time.thread_time()
                cursor = super().executemany(sql, many)
                record("executemany", sql, many[:1], time.thread_time() - began, len(many))
                return cursor

        return Timed

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs["factory"] = make(kwargs.get("factory", sqlite3.Connection))
        return connect(*args, **kwargs)

    sqlite3.connect = traced  # type: ignore[assignment]


def sql(path: str, n: int) -> None:
    """Each statement kind's CPU per workflow, by thread: calls and rows per workflow."""
    cost: collections.Counter[tuple[str, str]] = collections.Counter()
    calls: collections.Counter[tuple[str, str]] = collections.Counter()
    rows: collections.Counter[tuple[str, str]] = collections.Counter()
    lock = threading.Lock()

    def record(kind: str, text: str, _: Any, seconds: float, count: int) -> None:
        key = (_thread_kind(threading.current_thread()), " ".join(text.split())[:60])
        with lock:
            cost[key] += seconds
            calls[key] += 1
            rows[key] += count if kind == "executemany" else 0

    _traced_connections(record)
    rate = _run_w(path, n)
    print(f"{rate:,.0f} workflows/s; SQL {sum(cost.values()) / n * 1e3:.3f} ms per workflow")
    for key, seconds in cost.most_common(20):
        many = f", {rows[key] / n:5.1f} rows" if rows[key] else ""
        print(
            f"  {seconds / n * 1e3:.3f} ms {calls[key] / n:5.2f} calls{many} per workflow"
            f"  {key[0]}: {key[1]}"
        )


def plans(path: str, n: int) -> None:
    """Statements of the run whose plan scans a store table (none, ideally)."""
    seen: set[str] = set()
    lock = threading.Lock()

    def record(_kind: str, text: str, params: Any, _seconds: float, _count: int) -> None:
        if re.match(r"\s*(SELECT|UPDATE|INSERT|DELETE|WITH)\b", text, re.IGNORECASE):
            with lock:
                seen.add(text)

    _traced_connections(record)
    _run_w(path, n)
    check = sqlite3.connect(path)
    found = 0
    for text in sorted(seen):
        try:  # the plan of the statement's shape: any value for each parameter
            marks = text.count("?")
            plan = [row[3] for row in check.execute(f"EXPLAIN QUERY PLAN {text}", [None] * marks)]
        except sqlite3.Error as exc:
            print(f"  (no plan: {exc}) {' '.join(text.split())[:100]}")
            continue
        scans = [p for p in plan if re.match(rf"SCAN ({'|'.join(TABLES)})\b", p)]
        if scans:
            found += 1
            print(f"  {scans}: {' '.join(text.split())[:200]}")
    check.close()
    print(f"{len(seen)} statement shapes, {found} with a scan of a store table")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("what", choices=["threads", "sql", "plans"])
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="actors-profile-") as tmp:
        path = os.path.join(tmp, "w.db")
        {"threads": threads, "sql": sql, "plans": plans}[args.what](path, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
