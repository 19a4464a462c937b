"""Store write rates against the raw commit rate of the same database, in one run.

For SQLite (WAL, synchronous=NORMAL) and PostgreSQL it prints:

* store saves/s: ``Store.save`` of a running job after a step (one save = one
  transaction: the job's row and its step-history row), from 1 thread and from 4, and
  from 1 thread as a worker on a shared store (``owner`` set: each save is fenced by
  its case's lease);
* raw commits/s: one small ``UPDATE`` per transaction on the same kind of database,
  through the same driver, with nothing else: the floor a save is read against.

PostgreSQL is a throwaway pgserver instance unless ``--postgres URL`` names one (its
``jobs`` tables are used; nothing else is touched). ``--no-postgres`` skips it.

    python benchmarks/stores_raw.py --seconds 3
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from actors._job import JobRecord, JobState
from actors.stores import SqliteStore, open_store

DATA = {"order_id": 7, "reserved": True, "lines": [{"sku": "a", "qty": 2}], "note": "x" * 40}


def job(job_id):
    return JobRecord(id=job_id, case_id=job_id, workflow="W", version=1, step="a", data=dict(DATA))


def rate(fn, seconds, threads=1):
    """Calls per second of ``fn(thread_index, i)`` over about ``seconds``."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    start = threading.Barrier(threads + 1)

    def run(t):
        start.wait()
        n = 0
        while time.perf_counter() < stop:
            for _ in range(50):
                fn(t, n)
                n += 1
        counts[t] = n

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    began = time.perf_counter()
    start.wait()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - began)


def store_saves(store, seconds, threads, prefix):
    jobs = [job(f"{prefix}-{t}") for t in range(threads)]
    for j in jobs:
        store.create(j)
        j.state = JobState.RUNNING

    def save(t, i):
        j = jobs[t]
        j.step = f"s{i % 14}"
        j.data["i"] = i
        store.save(j)

    return rate(save, seconds, threads)


def sqlite_raw(path, seconds):
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v INTEGER)")
    conn.execute("INSERT OR REPLACE INTO t VALUES (1, 0)")

    def commit(_, i):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE t SET v = ? WHERE id = 1", (i,))
        conn.execute("COMMIT")

    try:
        return rate(commit, seconds)
    finally:
        conn.close()


def postgres_raw(url, seconds):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER PRIMARY KEY, v INTEGER)")
        conn.execute("INSERT INTO bench_raw VALUES (1, 0) ON CONFLICT (id) DO NOTHING")

        def commit(_, i):
            conn.execute("UPDATE bench_raw SET v = %s WHERE id = 1", (i,))

        try:
            return rate(commit, seconds)
        finally:
            conn.execute("DROP TABLE bench_raw")


def owned(store):
    """``store`` as a worker's: its roots are leased to it and its saves are fenced."""
    store.owner, store.lease_seconds = "bench-worker", 3600.0
    return store


def report(name, raw, one, four, quiet, fenced):
    rows = [
        ("raw commits/s (1 small UPDATE per transaction)", raw),
        ("store saves/s, 1 thread", one),
        ("store saves/s, 4 threads", four),
        ("store saves/s, 1 thread, history=False", quiet),
        ("store saves/s, 1 thread, owner set (fenced)", fenced),
    ]
    print(name)
    for label, value in rows:
        share = "" if value is raw else f"  ({value / raw:.0%} of raw)"
        print(f"  {label:<48}{value:10,.0f}{share}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--postgres", metavar="URL", help="an existing PostgreSQL to use")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.db")
        one = store_saves(store, args.seconds, 1, "one")
        four = store_saves(store, args.seconds, 4, "four")
        store.close()
        store = SqliteStore(Path(tmp) / "quiet.db", history=False)
        quiet = store_saves(store, args.seconds, 1, "quiet")
        store.close()
        store = owned(SqliteStore(Path(tmp) / "owned.db"))
        fenced = store_saves(store, args.seconds, 1, "owned")
        store.close()
        raw = sqlite_raw(Path(tmp) / "raw.db", args.seconds)
        title = f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"
        report(title, raw, one, four, quiet, fenced)

        if args.no_postgres:
            return
        server = None
        url = args.postgres
        if url is None:
            import pgserver

            server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
            url = server.get_uri()
        try:
            store = open_store(url)
            one = store_saves(store, args.seconds, 1, f"pg-one-{time.time_ns()}")
            four = store_saves(store, args.seconds, 4, f"pg-four-{time.time_ns()}")
            store.close()
            store = open_store(url, history=False)
            quiet = store_saves(store, args.seconds, 1, f"pg-quiet-{time.time_ns()}")
            store.close()
            store = owned(open_store(url))
            fenced = store_saves(store, args.seconds, 1, f"pg-owned-{time.time_ns()}")
            store.close()
            raw = postgres_raw(url, args.seconds)
            where = "pgserver, local socket" if server is not None else "given URL"
            title = f"PostgreSQL ({where}, default fsync and synchronous_commit)"
            report(title, raw, one, four, quiet, fenced)
        finally:
            if server is not None:
                server.cleanup()


if __name__ == "__main__":
    main()
