"""From ``enqueue`` to the first step: how long a new case waits for a worker.

    python benchmarks/bench_wake.py [--cases 100] [--gap 0.03] [--repeat 2]

A case of one step that records when it ran is enqueued every ``--gap`` seconds through a
client store; the latency of each is the time from just before its ``enqueue`` to its
step. Workers poll every second (the default). Measured with wake-ups (the default) and
without (``announce`` made a no-op on the client and the SQLite store's file watcher
left unstarted, so a worker only polls: the behaviour before wake-ups), interleaved, for a
worker in this process (SQLite and PostgreSQL) and an ``actors worker`` process
(PostgreSQL, woken by ``LISTEN``/``NOTIFY``; SQLite, by its store's watch of the file's
``data_version``).
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workload import stamped  # noqa: E402

from actors import JobState, Mediator, enqueue  # noqa: E402
from actors.stores import SqliteStore, Store, open_store  # noqa: E402

# Polling only: the SQLite store watches nothing but this process's own wake-ups.
_UNWATCHED = (
    "import sys; from actors.stores import SqliteStore, Store; "
    "SqliteStore.watch = Store.watch; from actors._cli import main; main(prog_name='actors')"
)


def _latencies(url: str, cases: int, gap: float, *, wake: bool, in_process: bool) -> list[float]:
    flow = stamped()
    client = open_store(url, commit="step")
    if not wake:
        client.announce = lambda: None  # type: ignore[method-assign]
    worker: Any = None
    proc = None
    if in_process:
        watch = SqliteStore.watch
        if not wake:
            SqliteStore.watch = Store.watch  # type: ignore[method-assign]
        try:
            worker = Mediator([flow], store=url)
        finally:
            SqliteStore.watch = watch  # type: ignore[method-assign]
    else:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        start = ("-m", "actors") if wake else ("-c", _UNWATCHED)
        cmd = [
            *(sys.executable, *start, "worker", "--store", url),
            *("--workflows", "workload:STAMP", "--log-level", "ERROR"),
        ]
        proc = subprocess.Popen(cmd, env=env)
        time.sleep(3.0)  # the worker is up, listening, and has made its first poll
    try:
        ids = []
        sent: dict[str, float] = {}
        for _ in range(cases):
            at = time.time()
            case = enqueue(client, flow, {})
            sent[case] = at
            ids.append(case)
            time.sleep(gap)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = [client.get(case) for case in ids]
            if all(job is not None and job.state is JobState.DONE for job in jobs):
                break
            time.sleep(0.2)
        out = []
        for case in ids:
            job = client.get(case)
            if job is None or job.state is not JobState.DONE:
                msg = f"case {case} did not end"
                raise RuntimeError(msg)
            out.append(job.data["started"] - sent[case])
        return out
    finally:
        if worker is not None:
            worker.shutdown(drain=False)
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        client.close()


def _summary(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49] * 1e3:7.1f} ms, p99 {cuts[98] * 1e3:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="actors-wake-"))
    import pgserver

    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="actors-wake-pg-")))
    names = iter(range(10_000))

    def fresh(kind: str) -> str:
        n = next(names)
        if kind == "sqlite":
            return f"sqlite:///{tmp / f'wake-{n}.db'}"
        import psycopg

        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "wake_{n}"')
        return str(server.get_uri(f"wake_{n}"))

    try:
        setups = [
            ("sqlite", True),
            ("postgres", True),
            ("postgres", False),
            ("sqlite", False),
        ]
        for kind, in_process in setups:
            got: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeat):
                for wake in (False, True):  # interleaved
                    got[wake] += _latencies(
                        fresh(kind), args.cases, args.gap, wake=wake, in_process=in_process
                    )
            where = "worker in this process" if in_process else "actors worker process"
            for wake in (False, True):
                label = "woken " if wake else "polls "
                print(f"{kind:<9} {where:<23} {label} {_summary(got[wake])}", flush=True)
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
