"""One data-driven split into N branches and a join, on each store: time and peak memory.

    python benchmarks/bench_fanout.py [--sizes 1000,10000,100000] [--stores memory,sqlite,postgres]
                                      [--rounds R] [--against TREE]

Each run is its own subprocess, so its peak RSS is its own: one case whose step ``fan``
splits into N branches (one per item of a list in its data), each branch one no-op step,
then a ``Synchronize`` and a last step. The time runs from ``schedule()`` to the case's
end, with the store's default options; the peak RSS is the process's (the interpreter and
the imports included, about 30 MiB). Linear in N means the time per branch stays flat as N
grows, and so does the memory per branch above that base.

Each run also reports, per branch, the threads' voluntary context switches (a thread
that blocks: on a lock, an empty inbox, the store) and the time the cyclic garbage
collector ran: the first tells a run whose threads handed the work channel's lock to
one another at almost every branch (about 2 switches per branch) from one that did not
(under 0.1), which is most of the spread between runs of one size on a shared machine
(see ``benchmarks/README.md``). It reports the most slices the store's writer thread
held queued too (a group-commit store's, looked at every 10 ms). ``--against TREE`` runs
each size on another checkout too, right after this tree, for ``--rounds`` rounds, and
ends with the median of each.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pg_databases import fresh_database

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow


def _mark(data: dict[str, Any]) -> None:
    data["done"] = True


def _merge(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    parent["joined"] = sum(1 for b in branches if b.get("done"))


def fan_out() -> Workflow:
    """Split into one branch per item of ``data["items"]``, one step each, then a join."""
    return Workflow(
        "fan",
        [
            ParallelSplit("fan", branches=lambda d: [{"i": i} for i in range(d["n"])], each="b"),
            Sequential("b", _mark, next="join"),
            Synchronize("join", merge=_merge, next="end"),
            Sequential("end", _mark),
        ],
        start="fan",
    )


class _Collector:
    """Seconds the cyclic garbage collector ran, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def __call__(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began


class _QueuePeak:
    """The most slices the store's writer thread held queued, looked at every 10 ms."""

    def __init__(self, store: Any) -> None:
        writer = getattr(store, "_writer", None)
        self._queue = getattr(writer, "_queue", None)  # a group-commit store's
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while self._queue is not None and not self._done.wait(0.01):
            self.peak = max(self.peak, self._queue.qsize())

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def one_run(url: str, n: int) -> dict[str, float]:
    """The case of N branches on ``url``, in this process: seconds, peak RSS (MiB), and more.

    ``switches``: the process's voluntary context switches while the case ran; ``gc``:
    the seconds the collector ran meanwhile.
    """
    collector = _Collector()
    with Mediator([fan_out()], runners=4, store=url) as mediator:
        queued = _QueuePeak(mediator.store)
        gc.callbacks.append(collector)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        start = time.perf_counter()
        job = mediator.schedule("fan", {"n": n}).result(timeout=3600)
        elapsed = time.perf_counter() - start
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before
        gc.callbacks.remove(collector)
        queued.stop()
    if job.state is not JobState.DONE or job.data["joined"] != n:
        msg = f"the case ended {job.state.name} with {job.data.get('joined')} of {n} joined"
        raise RuntimeError(msg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": elapsed,
        "peak_rss_mib": peak,
        "switches": switches,
        "gc": collector.seconds,
        "queued": queued.peak,
    }


def _in_subprocess(url: str, n: int, tree: str) -> dict[str, float]:
    env = dict(os.environ)
    # ``actors`` is imported from ``tree`` (another checkout to compare with).
    path = [tree, str(Path(__file__).resolve().parent), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    out = subprocess.run(
        [sys.executable, __file__, "--one", url, str(n)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--against",
        metavar="TREE",
        help="another checkout: each size runs on it too, right after this tree",
    )
    parser.add_argument("--one", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one[0], int(args.one[1]))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = args.stores.split(",")
    trees = [("this", str(Path(__file__).resolve().parent.parent))]
    if args.against:
        trees.append(("against", str(Path(args.against).resolve())))
    per_branch: dict[tuple[str, str, int], list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="actors-fanout-"))
    server = None
    if "postgres" in stores:
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="actors-fanout-pg-")))
    try:
        for round_, store, n, (label, tree) in itertools.product(
            range(args.rounds), stores, sizes, trees
        ):
            name = f"fan-{label}-{n}-{round_}"
            if store == "memory":
                url = "memory://"
            elif store == "sqlite":
                url = f"sqlite:///{tmp / f'{name}.db'}"
            else:
                url = fresh_database(server, name.replace("-", "_"))
            run = _in_subprocess(url, n, tree)
            per_branch.setdefault((store, label, n), []).append(run["seconds"] / n * 1e6)
            print(
                f"{label:<8} {store:<9} {n:>7,} branches: {run['seconds']:8.2f} s, "
                f"{run['seconds'] / n * 1e6:6.0f} us per branch, "
                f"peak RSS {run['peak_rss_mib']:7.1f} MiB, "
                f"{run['switches'] / n:5.2f} switches and {run['gc'] / n * 1e6:5.1f} us "
                f"of collector per branch, writer's queue at most {run.get('queued', 0):,}",
                flush=True,
            )
    finally:
        if server is not None:
            server.cleanup()
    if args.rounds > 1 or args.against:
        for (store, label, n), runs in per_branch.items():
            median = statistics.median(runs)
            print(f"median {label:<8} {store:<9} {n:>7,}: {median:6.0f} us per branch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
