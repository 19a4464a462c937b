"""Where W's time goes on PostgreSQL: the server's CPU per workflow, and the statements.

    python benchmarks/profile_postgres.py            # server CPU and statements per workflow
    python benchmarks/profile_postgres.py --rounds 3 # several runs, each on a fresh database

W's cases are enqueued first (500 per transaction, as ``bench_durable.py`` does), then
one worker in this process (``Mediator`` with an owner, 4 runners, capacity 200, group
commit: what ``actors worker --capacity 200`` runs) serves them all. The server's CPU is
read with psutil from the postmaster and its backends (the exited ones through the
postmaster's children times) before and after each part, so the figures are the server's
whole work per workflow, its background writer and WAL writer included; this process's
CPU is read beside it. Every statement the run executes goes through a wrapped
``psycopg.Cursor.execute``/``executemany``: counted by kind (its first words), with the
rows it sends and the wall time it takes in the calling thread (the round trip, the
server's work included). The poll that waits for the end (a count of the unfinished
cases every 0.2 s) is counted too. ``--url`` uses a running server instead of a
throwaway pgserver, and then reads no server CPU. Compare two trees by running this
script in each (``PYTHONPATH=<tree>``), interleaved.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_databases import server_cpu
from workload import workload_w

from actors import JobState, Mediator, enqueue_many
from actors.stores import open_store
from actors.stores._postgres import PostgresStore
from actors.stores._statements import UNFINISHED_ROOT

_lock = threading.Lock()
_stats: collections.defaultdict[str, list[float]] = collections.defaultdict(lambda: [0, 0, 0.0])
_counting = False
_written: dict[str, tuple[float, ...]] = {}


def _kind(sql: Any) -> str:
    text = sql if isinstance(sql, str) else str(getattr(sql, "as_string", lambda _: sql)(None))
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\(\$?%s(, %s)*\)", "(...)", text)
    return text[:110]


def _wrap() -> None:
    """Count every statement run through a psycopg cursor (``Connection.execute`` too)."""
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted(kind: str, rows: int, began: float) -> None:
        if _counting:
            spent = time.perf_counter() - began
            with _lock:
                entry = _stats[kind]
                entry[0] += 1
                entry[1] += rows
                entry[2] += spent

    def wrapped_execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(self, query, params, **kw)
        finally:
            counted(_kind(query), 1, began)

    def wrapped_many(self: Any, query: Any, params_seq: Any, **kw: Any) -> Any:
        params_seq = list(params_seq)
        began = time.perf_counter()
        try:
            return executemany(self, query, params_seq, **kw)
        finally:
            counted("(many) " + _kind(query), len(params_seq), began)

    psycopg.Cursor.execute = wrapped_execute  # type: ignore[method-assign]
    psycopg.Cursor.executemany = wrapped_many  # type: ignore[method-assign]


_TABLE_STATS = (
    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
)


def _server_counts(url: str) -> dict[str, tuple[float, ...]]:
    """Rows written per table (inserted, updated, of which HOT, deleted) and the WAL made."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(1.1)  # the statistics collector publishes at most once a second
        out = {row[0]: tuple(float(v) for v in row[1:]) for row in conn.execute(_TABLE_STATS)}
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
        out["(WAL records, full pages, bytes)"] = tuple(float(v) for v in wal)
    return out


def _fresh(admin_url: str, name: str, base: Any) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(base(name))


def _unfinished_cases(store: Any) -> int:
    """The cases not finished yet, through the unfinished roots' index (as bench_durable).

    A count of every job by state (``Store.counts()``) read the whole table every poll:
    5 ms at 25,000 jobs, some 4% of the server's CPU per workflow in a run of 5,000.
    """
    rows = store._read(f"SELECT COUNT(*) FROM jobs WHERE {UNFINISHED_ROOT}", (), "count cases")
    return int(rows[0][0])


def run(url: str, n: int, pid: int | None, capacity: int) -> dict[str, float]:
    """Enqueue ``n`` W cases, then serve them with one worker: CPU per workflow of each."""
    global _counting  # noqa: PLW0603 - read by the wrapped cursor methods
    flow = workload_w()
    store = open_store(url)
    c0 = _server_counts(url)
    s0, p0 = server_cpu(pid), time.process_time()
    for first in range(0, n, 500):
        enqueue_many(store, flow, [{} for _ in range(min(500, n - first))])
    s1, p1 = server_cpu(pid), time.process_time()
    c1 = _server_counts(url)
    s1 = server_cpu(pid)
    _stats.clear()
    _counting = True
    began = time.perf_counter()
    worker = PostgresStore(url)
    mediator = Mediator([flow], runners=4, capacity=capacity, store=worker, owner="profile-worker")
    try:
        while _unfinished_cases(store):
            time.sleep(0.2)
        elapsed = time.perf_counter() - began
        s2, p2 = server_cpu(pid), time.process_time()
        _counting = False
        done = store.counts().get(JobState.DONE, 0)
        groups = worker.group_stats()
    finally:
        mediator.shutdown(drain=False)
        store.close()
    c2 = _server_counts(url)
    _written.clear()
    for label, before, after in (("enqueue", c0, c1), ("worker", c1, c2)):
        for table, values in after.items():
            was = before.get(table, (0.0,) * len(values))
            moved = tuple((a - b) / n for a, b in zip(values, was, strict=True))
            if any(moved):
                _written[f"{label}: {table}"] = moved
    return {
        "wf_s": n / elapsed,
        "enqueue_server_ms": (s1 - s0) / n * 1e3,
        "enqueue_client_ms": (p1 - p0) / n * 1e3,
        "server_ms": (s2 - s1) / n * 1e3,
        "worker_ms": (p2 - p1) / n * 1e3,
        "done": done,
        "groups": groups[0] if groups else 0,
        "slices": groups[1] if groups else 0,
    }


def _report(n: int, result: dict[str, float]) -> None:
    print(
        f"{result['wf_s']:,.0f} wf/s through one worker; server CPU {result['server_ms']:.3f} ms "
        f"per workflow (worker process {result['worker_ms']:.3f}); enqueue: server "
        f"{result['enqueue_server_ms']:.3f}, client {result['enqueue_client_ms']:.3f} ms; "
        f"{result['groups'] / n:.3f} groups per workflow ({result['slices']:.0f} slices)"
    )
    print("  rows per workflow (inserted, updated, of which HOT, deleted) and WAL:")
    for table, moved in _written.items():
        print(f"    {table:44s} " + " ".join(f"{v:9.2f}" for v in moved))
    total = sum(entry[0] for entry in _stats.values())
    print(f"  statements per workflow {total / n:.2f} (calls, rows, wall ms per workflow):")
    for kind, (calls, rows, spent) in sorted(_stats.items(), key=lambda kv: -kv[1][2]):
        print(f"  {calls / n:7.3f} {rows / n:7.2f} {spent / n * 1e3:7.3f}  {kind}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="workflows per run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--capacity", type=int, default=200)
    parser.add_argument("--url", help="a server to use (no server CPU is read then)")
    args = parser.parse_args()
    _wrap()
    server = None
    if args.url is None:
        import pgserver

        where = Path(tempfile.mkdtemp(prefix="actors-profile-pg-"))
        server = pgserver.get_server(where, cleanup_mode="delete")
        admin, base, pid = server.get_uri(), server.get_uri, server.get_pid()
    else:
        admin, pid = args.url, None
        base = lambda name: re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", args.url, count=1)  # noqa: E731
    try:
        for k in range(args.rounds):
            url = _fresh(admin, f"profile_w_{k}", base)
            _report(args.n, run(url, args.n, pid, args.capacity))
    finally:
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
