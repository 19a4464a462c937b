"""What a worker's claim costs it while it holds many parked cases.

    python benchmarks/bench_parked_claims.py [--sizes 1000,50000,200000] [--against TREE]
        [--e2e-sizes 1000,50000] [--quick 3000] [--rounds 1]

A worker on a shared store claims up to its free places: its capacity less the cases in
progress on it, where a case parked on a timer or an event takes none. Two figures, each
size in a process of its own, this tree and ``--against`` (a tree exported with
``git archive``, run with ``PYTHONPATH``) alternating size by size:

- ``count``: the Scheduler's count of its free places at one claim (``PollRound``'s
  ``_free_places``), with N parked jobs held and one job changed since the last claim
  (a timer fired), median of 15 claims; ``first``: taking the N jobs into the case book
  and the first claim's count after it (every one of them new to the count).
- ``e2e`` (``--e2e-sizes``): a worker (``Mediator`` on SQLite, 4 runners) claims N
  cases that park on a timer a day ahead (at capacity 1,000), then, at capacity 100,
  ``--quick`` one-step cases are enqueued at once: the rate they run at, and the median
  and largest count of free places over the claims that took them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve()


def _count(n: int) -> dict[str, float]:
    """One claim's count of free places with ``n`` parked jobs held (in this process)."""
    from actors._case_book import CaseBook
    from actors._job import JobRecord, JobState
    from actors._poll_round import PollRound

    class Gate:
        capacity = 100

        def __len__(self) -> int:
            return 0

    def parked(i: int) -> JobRecord:
        job = JobRecord(id=f"c{i}", case_id=f"c{i}", workflow="w", version=1, step="a", data={})
        job.state, job.due = JobState.WAITING, 9e9
        return job

    book = CaseBook(lambda parent, join: False)
    jobs = [parked(i) for i in range(n)]
    began = time.perf_counter()
    book.adopt(jobs)
    none: Any = None
    poll = PollRound(
        SimpleNamespace(gate=Gate()),  # type: ignore[arg-type]
        none,
        poller=none,
        book=book,
        crew=none,
        fx=none,
        time=none,
        recovery=none,
    )
    poll._free_places()
    first = time.perf_counter() - began
    took = []
    for i in range(15):
        job = book.jobs[f"c{i}"]
        job.state, job.due = JobState.READY, None  # its timer fired: to a runner
        book.hand_over(job)
        began = time.perf_counter()
        free = poll._free_places()
        took.append(time.perf_counter() - began)
        assert free == 100 - (i + 1), free
    return {"first_ms": first * 1000, "count_ms": statistics.median(took) * 1000}


def _e2e(n: int, quick: int) -> dict[str, float]:
    """A SQLite worker holding ``n`` parked cases: how fast ``quick`` new ones run."""
    from actors import Mediator, Sequential, Wait, Workflow, enqueue_many
    from actors._poll_round import PollRound
    from actors.stores import open_store

    napping = Workflow(
        "napping", [Wait("nap", 86400, next="end"), Sequential("end", _noop)], start="nap"
    )
    ran = [0]
    lock = threading.Lock()
    all_ran = threading.Event()

    def count(data: Any) -> None:
        with lock:
            ran[0] += 1
            if ran[0] >= quick:
                all_ran.set()

    quick_flow = Workflow("quick", [Sequential("a", count)], start="a")
    counts: list[float] = []
    free_places = PollRound._free_places

    def timed(self: Any) -> int:
        began = time.perf_counter()
        free = free_places(self)
        counts.append(time.perf_counter() - began)
        return int(free)

    PollRound._free_places = timed  # type: ignore[method-assign]
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='actors-parked-')) / 'jobs.db'}"
    store = open_store(url)
    for first in range(0, n, 5000):
        enqueue_many(store, napping, [{} for _ in range(min(5000, n - first))])
    pause = threading.Event()
    with Mediator([napping, quick_flow], store=url, capacity=1000, runners=4) as mediator:
        filled = time.perf_counter()
        while mediator.stats().waiting < n:  # stats() walks every job held: not too often
            pause.wait(0.5)
        filled = time.perf_counter() - filled
        # Filled at capacity 1,000 (at 100, the count over every job held made filling
        # 200,000 take many minutes), measured at the default capacity, 100: claims of
        # 25 cases as a quarter of the places free, as a backlogged worker makes them.
        mediator._engine.gate.capacity = 100
        counts.clear()
        began = time.perf_counter()
        enqueue_many(store, quick_flow, [{} for _ in range(quick)])
        assert all_ran.wait(600), f"{ran[0]} of {quick} ran"
        took = time.perf_counter() - began
        claims = list(counts)
    store.close()
    return {
        "fill_s": filled,
        "rate": quick / took,
        "count_ms": statistics.median(claims) * 1000 if claims else 0.0,
        "count_max_ms": max(claims) * 1000 if claims else 0.0,
        "claims": len(claims),
    }


def _noop(data: Any) -> None:
    return None


def _child(kind: str, n: int, quick: int) -> dict[str, float]:
    env = dict(os.environ)
    cmd = [sys.executable, str(HERE), "--child", kind, "--n", str(n), "--quick", str(quick)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _in_tree(tree: str | None, kind: str, n: int, quick: int) -> dict[str, float]:
    old = os.environ.get("PYTHONPATH")
    try:
        if tree is not None:
            os.environ["PYTHONPATH"] = tree
        return _child(kind, n, quick)
    finally:
        if tree is not None:
            if old is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = old


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,50000,200000")
    parser.add_argument("--e2e-sizes", default="")
    parser.add_argument("--quick", type=int, default=3000)
    parser.add_argument("--against", default=None, help="another tree, run with PYTHONPATH")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        figures = _count(args.n) if args.child == "count" else _e2e(args.n, args.quick)
        print(json.dumps(figures))
        return 0
    trees: list[tuple[str, str | None]] = [("this tree", None)]
    if args.against:
        trees.append((args.against, str(Path(args.against).resolve())))
    jobs = [("count", int(s)) for s in args.sizes.split(",") if s]
    jobs += [("e2e", int(s)) for s in args.e2e_sizes.split(",") if s]
    for rnd in range(args.rounds):
        for kind, n in jobs:
            for name, tree in trees if rnd % 2 == 0 else trees[::-1]:
                got = _in_tree(tree, kind, n, args.quick)
                shown = ", ".join(f"{k} {v:,.3f}" for k, v in got.items())
                print(f"{kind:<5} {n:>7,} held  {name}: {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
