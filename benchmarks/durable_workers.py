"""W run by ``actors worker`` processes sharing one database: the runs of ``bench_durable.py``.

One and two workers, interleaved, timed three ways (see ``workers_w``). Each run also
reads the CPU it used: the workers', the database server's (PostgreSQL: the postmaster
and its backends, the exited ones included) and this process's (the producer and the
poll that waits for the end), as the cores they kept busy. Two workers can be at most
``cores / C1`` times one, where C1 is the cores one worker's run kept busy for the same
work: on two cores, a one-worker run that keeps 1.2 of them busy (the server working
while the worker waits, and the other way round) caps the ratio at 1.67x.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from statistics import median
from typing import Any

from pg_databases import server_cpu
from workload import workload_w

from actors import enqueue_many
from actors.stores import open_store
from actors.stores._statements import UNFINISHED_ROOT

__all__ = ["WORKER_CAPACITY", "workers_table", "workers_w"]

HERE = Path(__file__).resolve().parent


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


def workers_w(
    url: str, n: int, workers: int, commit: str, *, ready_first: bool, server: int | None = None
) -> dict[str, Any]:
    """W run by ``workers`` ``actors worker`` processes sharing ``url``: workflows/s.

    ``ready_first=False``: the cases are enqueued first, then the workers start, and the
    whole run is timed from their start (their start-up included) to the sample that
    found every case done. ``ready_first=True``: the workers start on an empty database
    and the run is timed from the first enqueue, once every worker says it started
    (connected, listening, its runners up), to the last case's end as stored: what
    serving a backlog costs, without a process's start-up. Also the
    steady state's rate, from the moment a fifth of the workflows were done to the
    moment four fifths were, which leaves out the start-up and the last stragglers.
    ``server``: the database server's process id, whose CPU (and its children's) the
    run counts with the workers' and this process's as the cores it kept busy.
    """
    store = open_store(url)
    if not ready_first:
        _enqueue_w(store, n)
    idle0, cpu0 = _idle(), _cpu_outside(server)
    start = time.perf_counter()
    cmd = _worker_cmd(url, commit, "INFO" if ready_first else "ERROR")
    pipe = subprocess.PIPE if ready_first else None
    procs = [
        subprocess.Popen(cmd, env=_worker_env(), stderr=pipe, text=True) for _ in range(workers)
    ]
    seen: list[tuple[float, int]] = []  # (time, jobs done)
    worker0 = [0.0 for _ in procs]
    try:
        if ready_first:
            readies = [threading.Event() for _ in procs]
            for proc, ready in zip(procs, readies, strict=True):
                threading.Thread(target=_started, args=(proc, ready), daemon=True).start()
            for proc, ready in zip(procs, readies, strict=True):
                if not ready.wait(120) or proc.poll() is not None:
                    msg = "a worker did not start"
                    raise RuntimeError(msg)
            idle0, cpu0 = _idle(), _cpu_outside(server)
            worker0 = [_cpu_seconds(p.pid) for p in procs]  # their start-up left out
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
        cpu = [_cpu_seconds(p.pid) - c0 for p, c0 in zip(procs, worker0, strict=True)]
        idle1, cpu1 = _idle(), _cpu_outside(server)
        idle = (idle1[0] - idle0[0]) / max(1.0, idle1[1] - idle0[1])
        outside = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
        cores = (sum(cpu) + sum(outside)) / elapsed
        print(
            f"  {workers} worker(s), {'workers ready' if ready_first else 'start-up included'}:"
            f" {n / elapsed:,.0f} workflows/s, worker CPU "
            + " + ".join(f"{c:.1f}" for c in cpu)
            + f" s, server {outside[0]:.1f} s, this process {outside[1]:.1f} s in"
            f" {elapsed:.1f} s: {cores:.2f} cores busy, machine idle {idle:.0%}",
            flush=True,
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        store.close()
    return {"whole": n / elapsed, "steady": _steady_rate(seen, n), "idle": idle, "cores": cores}


def _cpu_outside(server: int | None) -> tuple[float, float]:
    """CPU seconds so far of the database server (0 without one) and of this process."""
    return server_cpu(server), time.process_time()


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


def workers_table(
    name: str, url_of: Any, n: int, repeat: int, commit: str, server: int | None = None
) -> None:
    """W by one and by two ``actors worker`` processes, interleaved; ratios run by run.

    Each round runs one worker and then two, first enqueuing before the workers start
    (the old "whole run", start-up included), then with the workers started first.
    ``server``: the database server's process id (see ``workers_w``).
    """
    runs: dict[tuple[int, bool], list[dict[str, Any]]] = {}
    for r in range(repeat):
        for ready_first in (False, True):
            for count in (1, 2):  # interleaved
                url = url_of(f"w{count}_{commit}_{r}_{int(ready_first)}")
                run = workers_w(url, n, count, commit, ready_first=ready_first, server=server)
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
    n_cores = os.cpu_count() or 1
    for ready_first, label in ((False, "start-up included"), (True, "workers ready")):
        one_c = median([run["cores"] for run in runs[1, ready_first]])
        two_c = median([run["cores"] for run in runs[2, ready_first]])
        print(
            f"{name}: {label}: one worker's runs kept {one_c:.2f} cores busy, two workers'"
            f" {two_c:.2f} (medians): on {n_cores} cores two can reach at most"
            f" {min(2.0, n_cores / max(one_c, 1e-9)):.2f}x one"
        )
    idles = [run["idle"] for runs_of in runs.values() for run in runs_of]
    print(f"{name}: machine idle {min(idles):.0%} to {max(idles):.0%} across these runs")
