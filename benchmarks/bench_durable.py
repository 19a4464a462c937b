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
done to four fifths).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workload import workload_w  # noqa: E402

from actors import Mediator, enqueue_many  # noqa: E402
from actors.stores import open_store  # noqa: E402
from actors.stores._statements import UNFINISHED_ROOT  # noqa: E402


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


def _idle() -> tuple[float, float]:
    """The machine's idle and total CPU time so far (Linux ``/proc/stat``; zeros elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    return fields[3] + fields[4], sum(fields)  # idle + iowait, everything


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a live process has used (Linux; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WORKER_CAPACITY = 200  # each worker's --capacity (--worker-capacity)


def _worker_cmd(url: str, commit: str, log_level: str) -> list[str]:
    return [
        *(sys.executable, "-m", "actors", "worker", "--store", url),
        *("--workflows", "workload:W", "--runners", "4", "--capacity", str(WORKER_CAPACITY)),
        *("--commit", commit, "--log-level", log_level),
    ]


def _worker_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }


def _enqueue_w(store: Any, n: int) -> None:
    flow = workload_w()
    for first in range(0, n, 500):  # the cases the workers claim, 500 per transaction
        enqueue_many(store, flow, [{} for _ in range(min(500, n - first))])


def _started(proc: subprocess.Popen[str], ready: threading.Event) -> None:
    """Read a worker's log until it says it started (then ``ready``), and on to its end."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if "worker started" in line:
            ready.set()


def workers_w(url: str, n: int, workers: int, commit: str, *, ready_first: bool) -> dict[str, Any]:
    """W run by ``workers`` ``actors worker`` processes sharing ``url``: workflows/s.

    ``ready_first=False``: the cases are enqueued first, then the workers start, and the
    whole run is timed from their start (their start-up included) to the sample that
    found every case done. ``ready_first=True``: the workers start on an empty database
    and the run is timed from the first enqueue, once every worker says it started
    (connected, listening, its runners up), to the last case's end as stored: what
    serving a backlog costs, without a process's start-up. Also the
    steady state's rate, from the moment a fifth of the workflows were done to the
    moment four fifths were, which leaves out the start-up and the last stragglers.
    """
    store = open_store(url)
    if not ready_first:
        _enqueue_w(store, n)
    idle0 = _idle()
    start = time.perf_counter()
    cmd = _worker_cmd(url, commit, "INFO" if ready_first else "ERROR")
    pipe = subprocess.PIPE if ready_first else None
    procs = [
        subprocess.Popen(cmd, env=_worker_env(), stderr=pipe, text=True) for _ in range(workers)
    ]
    seen: list[tuple[float, int]] = []  # (time, jobs done)
    try:
        if ready_first:
            readies = [threading.Event() for _ in procs]
            for proc, ready in zip(procs, readies, strict=True):
                threading.Thread(target=_started, args=(proc, ready), daemon=True).start()
            for proc, ready in zip(procs, readies, strict=True):
                if not ready.wait(120) or proc.poll() is not None:
                    msg = "a worker did not start"
                    raise RuntimeError(msg)
            idle0 = _idle()
            start, began = time.perf_counter(), time.time()
            _enqueue_w(store, n)
        seen.append((start, 0))
        while True:
            if any(p.poll() is not None for p in procs):
                msg = "a worker exited early"
                raise RuntimeError(msg)
            left = _unfinished_cases(store)
            seen.append((time.perf_counter(), n - left))
            if left == 0:
                break
            # Polling the database from outside: every poll is a query the server runs
            # beside the workers, so not too often (a run takes several seconds).
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        if ready_first:  # to the last case's end as its worker saved it, not as sampled
            elapsed = _last_finished(store) - began
        # Whether the run had cores to spare: the workers' CPU (start-up included) and
        # how much of the whole machine stayed idle meanwhile (other work included).
        cpu = [_cpu_seconds(p.pid) for p in procs]
        idle1 = _idle()
        idle = (idle1[0] - idle0[0]) / max(1.0, idle1[1] - idle0[1])
        print(
            f"  {workers} worker(s), {'workers ready' if ready_first else 'start-up included'}:"
            f" {n / elapsed:,.0f} workflows/s, worker CPU "
            + " + ".join(f"{c:.1f}" for c in cpu)
            + f" s in {elapsed:.1f} s, machine idle {idle:.0%}",
            flush=True,
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        store.close()
    return {"whole": n / elapsed, "steady": _steady_rate(seen, n), "idle": idle}


def _last_finished(store: Any) -> float:
    """When the last job ended (its ``finished_at``, the worker's wall clock)."""
    rows = store._read("SELECT MAX(finished_at) FROM jobs", (), "read the last end")
    return float(rows[0][0])


def _unfinished_cases(store: Any) -> int:
    """The cases not finished yet: what the run's loop polls, as cheaply as it can be read.

    Counted through the unfinished roots' index (``jobs_claimable``), so a poll costs
    the server in proportion to the cases left, not to every job stored. A count of
    every job by state took about 4 ms of the server's CPU per poll at 50,000 jobs
    (this: 0.12 ms), CPU that the two workers' runs (every core busy) then lacked.
    """
    rows = store._read(f"SELECT COUNT(*) FROM jobs WHERE {UNFINISHED_ROOT}", (), "count cases")
    return int(rows[0][0])


def _steady_rate(seen: list[tuple[float, int]], n: int) -> float:
    """Workflows/s from n/5 workflows done to 4n/5, times interpolated.

    The samples come every 100 ms or so; the moment each count was crossed is placed
    between the samples on either side of it, so a run of a second or two is not
    measured to the nearest sample.
    """
    low, high = _crossed(seen, n / 5), _crossed(seen, 4 * n / 5)
    if high <= low:  # too quick for the samples to tell
        return float("nan")
    return 3 * n / 5 / (high - low)


def _crossed(seen: list[tuple[float, int]], cases: float) -> float:
    """When ``cases`` cases were done: linear between the samples before and after."""
    after = next(k for k, (_, done) in enumerate(seen) if done >= cases)
    if after == 0:
        return seen[0][0]
    (t0, d0), (t1, d1) = seen[after - 1], seen[after]
    return t0 + (t1 - t0) * (cases - d0) / max(1, d1 - d0)


WORKER_FIGURES = (
    ("whole run, start-up included", False, "whole"),
    ("whole run, workers ready", True, "whole"),
    ("steady state, workers ready", True, "steady"),
)


def workers_table(name: str, url_of: Any, n: int, repeat: int, commit: str) -> None:
    """W by one and by two ``actors worker`` processes, interleaved; ratios run by run.

    Each round runs one worker and then two, first enqueuing before the workers start
    (the old "whole run", start-up included), then with the workers started first.
    """
    runs: dict[tuple[int, bool], list[dict[str, Any]]] = {}
    for r in range(repeat):
        for ready_first in (False, True):
            for count in (1, 2):  # interleaved
                url = url_of(f"w{count}_{commit}_{r}_{int(ready_first)}")
                run = workers_w(url, n, count, commit, ready_first=ready_first)
                runs.setdefault((count, ready_first), []).append(run)
    for label, ready_first, key in WORKER_FIGURES:
        ones = [run[key] for run in runs[1, ready_first]]
        twos = [run[key] for run in runs[2, ready_first]]
        one, two = median(ones), median(twos)
        paired = [b / a for a, b in zip(ones, twos, strict=True)]
        ratios = ", ".join(f"{r:.2f}" for r in paired)
        print(
            f"{name} W, commit={commit:<5} {label:<28} 1 worker {one:6,.0f}, "
            f"2 workers {two:6,.0f} workflows/s: {two / one:.2f}x on the medians, "
            f"{median(paired):.2f}x the median run (run by run: {ratios})",
            flush=True,
        )
    idles = [run["idle"] for runs_of in runs.values() for run in runs_of]
    print(f"{name}: machine idle {min(idles):.0%} to {max(idles):.0%} across these runs")


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
    global WORKER_CAPACITY  # noqa: PLW0603 - read by every worker run
    WORKER_CAPACITY = args.worker_capacity
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
