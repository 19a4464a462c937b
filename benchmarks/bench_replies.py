"""Replies through ``Admin.send_event`` to a live worker: latency, and replies a second.

    python benchmarks/bench_replies.py [--replies 60] [--repeat 1]

``--replies`` cases of one ``RequestReaction`` step park waiting on their reply in a
worker that polls every second (the default). A responder then answers them one after
another, as a responder that answers one request at a time does: each
``Admin.send_event`` leaves a request for the worker holding the case and returns once
that worker says it delivered the event. The latency of each is that call's time; the
rate is the replies over the whole run. Measured woken (the default: the ``Admin`` wakes
the worker) and polling only (``Store.announce_requests`` made a no-op on the
``Admin``'s store: the worker takes each request at its next poll, the behaviour before
wake-ups), interleaved, for: SQLite with the worker in the responder's process;
PostgreSQL with the worker an ``actors worker`` process (woken by ``NOTIFY``); SQLite
with an ``actors worker`` process (woken by its store's watcher, which sees the file
change and reads the new request; polling only: the worker process's store watches for
no request, as before, so a third as many replies).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from actors import JobState, Mediator, RequestReaction, Workflow, enqueue
from actors.admin import Admin

HERE = Path(__file__).resolve().parent

ASK = Workflow(
    "ask",
    start="ask",
    steps=[
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r))
    ],
)
"""The workflow: ask (the request goes nowhere: the responder knows whom to answer)."""


_NO_REQUEST_WATCH = (
    "from actors.stores import _base, _sqlite; "
    "_sqlite.SqliteStore.watch_requests = _base.Store.watch_requests; "
)


def _run(url: str, replies: int, *, wake: bool, in_process: bool) -> tuple[list[float], float]:
    """Each reply's latency (seconds), and the replies a second over the run."""
    worker: Any = None
    proc = None
    ids = [f"order-{n}" for n in range(replies)]
    if in_process:
        worker = Mediator([ASK], store=url, owner="bench-worker")
        for job_id in ids:
            worker.schedule("ask", {}, job_id=job_id)
    else:
        for job_id in ids:
            enqueue(url, ASK, {}, job_id=job_id)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        # Polling only: on SQLite the worker's own watcher would wake it, so its store
        # watches for no request (on PostgreSQL this changes nothing: NOTIFY wakes it).
        unwatched = "" if wake else _NO_REQUEST_WATCH
        run = f"{unwatched}from actors._cli import main; main(prog_name='actors')"
        cmd = [
            *(sys.executable, "-c", run, "worker", "--store", url),
            *("--workflows", "bench_replies:ASK", "--log-level", "ERROR"),
        ]
        proc = subprocess.Popen(cmd, env=env)
    admin = Admin(url, operator="responder", timeout=30.0)
    if not wake:
        admin.store.announce_requests = lambda owner: None  # type: ignore[method-assign]
    try:
        deadline = time.monotonic() + 60
        while len(admin.jobs(state="waiting", limit=replies).items) < replies:
            if time.monotonic() > deadline:
                msg = "the cases did not all park"
                raise RuntimeError(msg)
            time.sleep(0.1)
        took = []
        start = time.perf_counter()
        for job_id in ids:
            at = time.perf_counter()
            result = admin.send_event(f"{job_id}/ask", "ok")
            took.append(time.perf_counter() - at)
            if result.outcome != "delivered" or not result.via.startswith("worker"):
                msg = f"{job_id}: {result.outcome} via {result.via}"
                raise RuntimeError(msg)
        rate = replies / (time.perf_counter() - start)
        deadline = time.monotonic() + 30
        while any(admin.job(i).state is not JobState.DONE for i in ids):
            if time.monotonic() > deadline:
                msg = "the cases did not all end"
                raise RuntimeError(msg)
            time.sleep(0.1)
        return took, rate
    finally:
        admin.close()
        if worker is not None:
            worker.shutdown(drain=False)
        if proc is not None:
            proc.terminate()
            proc.wait(30)


def _summary(values: list[float], rates: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return (
        f"p50 {cuts[49] * 1e3:7.1f} ms, p99 {cuts[98] * 1e3:7.1f} ms, "
        f"{statistics.median(rates):7.1f} replies/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replies", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["sqlite-in", "postgres-out", "sqlite-out"],
        help="run these setups alone (the store, and the worker in this process or out)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="actors-replies-"))
    import pgserver

    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="actors-replies-pg-")))
    names = iter(range(10_000))

    def fresh(kind: str) -> str:
        n = next(names)
        if kind == "sqlite":
            return f"sqlite:///{tmp / f'replies-{n}.db'}"
        import psycopg

        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "replies_{n}"')
        return str(server.get_uri(f"replies_{n}"))

    try:
        setups = [("sqlite", True, 1), ("postgres", False, 1), ("sqlite", False, 3)]
        if args.only:
            setups = [s for s in setups if f"{s[0]}-{'in' if s[1] else 'out'}" in args.only]
        for kind, in_process, fewer in setups:
            got: dict[bool, list[float]] = {True: [], False: []}
            rates: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeat):
                for wake in (False, True):  # interleaved
                    took, rate = _run(
                        fresh(kind), args.replies // fewer, wake=wake, in_process=in_process
                    )
                    got[wake] += took
                    rates[wake].append(rate)
            where = "worker in this process" if in_process else "actors worker process"
            for wake in (False, True):
                label = "woken " if wake else "polls "
                print(f"{kind:<9} {where:<23} {label} {_summary(got[wake], rates[wake])}")
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
