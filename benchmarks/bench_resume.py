"""A wide split resumed after its worker was killed: time until the case ends, peak RSS.

    python benchmarks/bench_resume.py [--sizes 1000,10000,100000] [--stores sqlite,postgres]

For each size, an ``actors worker`` process runs one case that splits into N branches
(as ``bench_fanout.py``'s: one step a branch, then a join). Its branches' steps
block, so once the split is stored none of them has run; the benchmark then kills the
worker with SIGKILL and starts another under the same name, which takes the case back at
once (each branch a job taken over from a worker that stopped). The time runs from that
worker's start (its imports included: 0.5 s on an idle machine, seconds on a loaded one)
to the case's end, and "after start-up" from its first log line (imports done, before it
claims the case back) to the end; the peak RSS is that worker's (``VmHWM``). The case must
end ``DONE`` with every branch joined once. ``--against TREE`` runs each size on another
checkout's ``actors`` too, right after this tree's (before and after, in one run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pg_databases import fresh_database

from actors import ParallelSplit, Sequential, Synchronize, Workflow, enqueue

HERE = Path(__file__).resolve().parent
HOLD = "BENCH_RESUME_HOLD"  # set for the worker to kill: its branches' steps never end


def _mark(data: dict[str, Any]) -> None:
    if os.environ.get(HOLD):
        threading.Event().wait()  # killed here: the branch never saves
    data["done"] = True


def _merge(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    parent["joined"] = parent.get("joined", 0) + sum(1 for b in branches if b.get("done"))


def _end(data: dict[str, Any]) -> None:
    data["ended"] = data.get("ended", 0) + 1


FAN = Workflow(
    "resume_fan",
    [
        ParallelSplit("fan", branches=lambda d: [{"i": i} for i in range(d["n"])], each="b"),
        Sequential("b", _mark, next="join"),
        Synchronize("join", merge=_merge, next="end"),
        Sequential("end", _end),
    ],
    start="fan",
)


def _worker(url: str, log: Path, *, hold: bool, tree: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop(HOLD, None)
    if hold:
        env[HOLD] = "1"
    # The workers import ``actors`` from ``tree`` (another checkout to compare with).
    path = [tree, str(HERE), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "actors", "worker", "--store", url),
                *("--workflows", "bench_resume", "--name", "bench-resume"),
                *("--poll-interval", "0.2"),
            ],
            env=env,
            cwd=log.parent,  # not a checkout: ``-m actors`` would import the one it is in
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _one(url: str, sql: str, *params: Any) -> Any:
    """One value read with the store's own driver (no engine code in the loop)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        try:
            return conn.execute(sql, params).fetchone()[0]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as pg:
        return pg.execute(sql.replace("?", "%s"), params).fetchone()[0]  # type: ignore[index]


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if proc.poll() is not None:
            msg = f"the worker exited ({proc.returncode}) before {what}:\n{log.read_text()}"
            raise RuntimeError(msg)
        if time.monotonic() > deadline:
            msg = f"no {what} within {limit:g} s:\n{log.read_text()[-3000:]}"
            raise RuntimeError(msg)
        time.sleep(0.05)


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(url: str, n: int, log: Path, limit: float, tree: str = "") -> dict[str, float]:
    """Split N on ``url``, kill its worker, resume it in another: seconds and peak RSS."""
    case = enqueue(url, FAN, {"n": n})
    first = _worker(url, log, hold=True, tree=tree)
    try:
        branches = "SELECT COUNT(*) FROM jobs WHERE parent_id = ?"
        _wait("the split stored", lambda: _one(url, branches, case) == n, first, log, limit)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    start = time.perf_counter()
    resumed = log.with_suffix(".resumed.log")
    second = _worker(url, resumed, hold=False, tree=tree)
    try:
        state = "SELECT state FROM jobs WHERE id = ?"
        done = lambda: str(_one(url, state, case)).lower() == "done"  # noqa: E731
        _wait("the case's end", done, second, resumed, limit)
        elapsed = time.perf_counter() - start
        ended = time.time()
        peak = _peak_rss_mib(second.pid)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    data = _one(url, "SELECT data FROM jobs WHERE id = ?", case)
    data = json.loads(data) if isinstance(data, (str, bytes)) else data
    if data.get("joined") != n or data.get("ended") != 1:
        msg = f"the case ended DONE with data {str(data)[:300]}: not {n} joined once"
        raise RuntimeError(msg)
    # From the worker's first log line (its imports done, before its claim) to the end.
    first = resumed.read_text().splitlines()[0][:23]
    began = time.mktime(time.strptime(first[:19], "%Y-%m-%d %H:%M:%S")) + int(first[20:]) / 1e3
    return {"seconds": elapsed, "in_worker": ended - began, "peak_rss_mib": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--limit", type=float, default=3600.0, help="seconds a run may take")
    parser.add_argument(
        "--against",
        metavar="TREE",
        help="another checkout: each size runs on it too, right after this tree",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = args.stores.split(",")
    trees = [("this", str(HERE.parent))]
    if args.against:
        trees.append(("against", str(Path(args.against).resolve())))
    tmp = Path(tempfile.mkdtemp(prefix="actors-resume-"))
    server = None
    if "postgres" in stores:
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="actors-resume-pg-")))
    try:
        for store in stores:
            for n, (label, tree) in itertools.product(sizes, trees):
                if store == "sqlite":
                    url = f"sqlite:///{tmp / f'resume-{label}-{n}.db'}"
                else:
                    url = fresh_database(server, f"resume_{label}_{n}")
                run = one_run(url, n, tmp / f"{store}-{label}-{n}.log", args.limit, tree)
                print(
                    f"{label:<8} {store:<10} {n:>7,} branches resumed: {run['seconds']:8.2f} s, "
                    f"{run['in_worker']:8.2f} s after start-up "
                    f"({run['in_worker'] / n * 1e6:5.0f} us per branch), "
                    f"peak RSS {run['peak_rss_mib']:7.1f} MiB",
                    flush=True,
                )
    finally:
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
