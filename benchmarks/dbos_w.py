"""Workload W on DBOS with its SQLite system database; run with a Python that has ``dbos``.

    python benchmarks/dbos_w.py PATH.sqlite N [--inflight 4] [--synchronous NORMAL]

Prints one line of JSON: ``{"workflows": N, "elapsed_s": ..., "workflows_per_s": ...}``.
The database runs in WAL mode with ``synchronous=NORMAL`` (``--synchronous FULL`` for
DBOS's own setting), as this engine's SQLite store does. W in DBOS's own terms: a
workflow runs step A, starts 4 child workflows of 3 steps each (DBOS runs the steps of
one workflow one after another; child workflows are its way to run branches in
parallel), waits for their results (the join), then runs step B. Every step sets one key
of a dict, as W's tasks do. One producer starts the workflows, keeping at most
``--inflight`` of them unfinished (DBOS runs each workflow on a thread of its own; 1 to 4
ran fastest here, more contend for SQLite's lock). Timing starts before the first
workflow is started and stops when the last has ended; launching DBOS (creating the
database) is not timed. This file is not part of ``actors`` and is never imported by
it: ``bench_dbos.py`` runs it in a DBOS environment.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
import time
from typing import Any

import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]
from dbos import DBOS, DBOSConfig  # type: ignore[import-not-found, unused-ignore]

BRANCHES = 4
STEPS_PER_BRANCH = 3


@DBOS.step()  # type: ignore[untyped-decorator, unused-ignore]
def set_key(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {**data, key: True}


@DBOS.workflow()  # type: ignore[untyped-decorator, unused-ignore]
def branch(data: dict[str, Any], b: int) -> dict[str, Any]:
    for s in range(STEPS_PER_BRANCH):
        data = set_key(data, f"b{b}s{s}")
    return data


@DBOS.workflow()  # type: ignore[untyped-decorator, unused-ignore]
def w(data: dict[str, Any]) -> dict[str, Any]:
    data = set_key(data, "a")
    handles = [DBOS.start_workflow(branch, data, b) for b in range(BRANCHES)]
    for handle in handles:
        data = {**data, **handle.get_result()}
    return set_key(data, "b")  # type: ignore[no-any-return, unused-ignore]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("n", type=int)
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL", ""], default="NORMAL")
    args = parser.parse_args()
    config: DBOSConfig = {
        "name": "workload-w",
        "system_database_url": f"sqlite:///{args.path}",
        "log_level": "ERROR",
    }
    # WAL and synchronous=NORMAL, as this engine's SQLite store has by default:
    # journal_mode persists in the file (DBOS otherwise keeps SQLite's rollback journal);
    # synchronous is set on every connection SQLAlchemy opens (DBOS leaves it FULL).
    with sqlite3.connect(args.path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    if args.synchronous:

        @sa.event.listens_for(sa.engine.Engine, "connect")
        def _synchronous(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.execute(f"PRAGMA synchronous={args.synchronous}")

    DBOS(config=config)
    DBOS.launch()
    room = threading.Semaphore(args.inflight)
    done = threading.Event()
    left = [args.n]
    lock = threading.Lock()

    def finished(_: Any) -> None:
        room.release()
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    start = time.perf_counter()
    for _ in range(args.n):
        room.acquire()
        handle = DBOS.start_workflow(w, {})
        handle.future.add_done_callback(finished)  # the handle's own result, no polling
    done.wait()
    elapsed = time.perf_counter() - start
    DBOS.destroy()
    rate = args.n / elapsed
    print(json.dumps({"workflows": args.n, "elapsed_s": elapsed, "workflows_per_s": rate}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
