"""One data-driven split into N branches and a join, on each store: time and peak memory.

    python benchmarks/bench_fanout.py [--sizes 1000,10000,100000] [--stores memory,sqlite,postgres]

Each run is its own subprocess, so its peak RSS is its own: one case whose step ``fan``
splits into N branches (one per item of a list in its data), each branch one no-op step,
then a ``Synchronize`` and a last step. The time runs from ``schedule()`` to the case's
end, with the store's default options; the peak RSS is the process's (the interpreter and
the imports included, about 30 MiB). Linear in N means the time per branch stays flat as N
grows, and so does the memory per branch above that base.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
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


def one_run(url: str, n: int) -> dict[str, float]:
    """The case of N branches on ``url``, in this process: seconds and peak RSS (MiB)."""
    with Mediator([fan_out()], runners=4, store=url) as mediator:
        start = time.perf_counter()
        job = mediator.schedule("fan", {"n": n}).result(timeout=3600)
        elapsed = time.perf_counter() - start
    if job.state is not JobState.DONE or job.data["joined"] != n:
        msg = f"the case ended {job.state.name} with {job.data.get('joined')} of {n} joined"
        raise RuntimeError(msg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": elapsed, "peak_rss_mib": peak}


def _in_subprocess(url: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", url, str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--one", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one[0], int(args.one[1]))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = args.stores.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="actors-fanout-"))
    server = None
    if "postgres" in stores:
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="actors-fanout-pg-")))
    try:
        for store in stores:
            for n in sizes:
                if store == "memory":
                    url = "memory://"
                elif store == "sqlite":
                    url = f"sqlite:///{tmp / f'fan-{n}.db'}"
                else:
                    url = fresh_database(server, f"fan_{n}")
                run = _in_subprocess(url, n)
                print(
                    f"{store:<9} {n:>7,} branches: {run['seconds']:8.2f} s, "
                    f"{run['seconds'] / n * 1e6:6.0f} us per branch, "
                    f"peak RSS {run['peak_rss_mib']:7.1f} MiB",
                    flush=True,
                )
    finally:
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
