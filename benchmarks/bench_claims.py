"""What a worker's claim costs when it finds nothing, beside cases that are not its own.

    python benchmarks/bench_claims.py [--sizes 1000,50000] [--stores sqlite,postgres]

A worker polls (and is woken) again and again; each time it claims. Here the store holds
N cases the claiming worker may not take, in one of three ways, and the claim (of up to
200 cases, serving workflow ``mine``) finds nothing:

- ``held``: N cases held by a live worker;
- ``unserved``: N free cases of a workflow the worker does not serve (their own workers
  are down);
- ``stopped``: N cases of a workflow it does not serve, held by a worker that stopped.

A claim's cost should not grow with N: the figure to read is the ratio of the largest
size to the smallest, measured in the same run (median of 15 claims each). Run it with
``PYTHONPATH=<tree>`` to compare two trees on the same sizes. The claims run at once
after the cases are written: on PostgreSQL, before autovacuum has analyzed the table,
unless ``--analyze``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_databases import fresh_database

from actors import Sequential, Workflow, enqueue_many
from actors.stores import open_store

MINE = Workflow("mine", [Sequential("a", lambda d: None)], start="a")
OTHER = Workflow("other", [Sequential("a", lambda d: None)], start="a")
KINDS = ("held", "unserved", "stopped")


def _fill(url: str, kind: str, n: int, *, analyze: bool) -> Any:
    store = open_store(url)
    flow = MINE if kind == "held" else OTHER
    for first in range(0, n, 2000):
        enqueue_many(store, flow, [{} for _ in range(min(2000, n - first))])
    now = time.time()
    if kind != "unserved":  # taken by a worker: live for an hour, or stopped a minute ago
        lease = 3600.0 if kind == "held" else 1.0
        store.owner = "holder"
        while store.claim("holder", now - (0 if kind == "held" else 60), lease, 5000):
            pass
        store.owner = None
    if analyze and url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE jobs")
    return store


def _claim_ms(store: Any) -> float:
    took = []
    for _ in range(15):
        began = time.perf_counter()
        got = store.claim("me", time.time(), 60.0, 200, workflows=[("mine", 1)])
        took.append((time.perf_counter() - began) * 1000)
        assert got == [], got
    return statistics.median(took)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,50000")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE jobs on PostgreSQL once filled (as autovacuum does within a minute)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="actors-claims-"))
    server = None
    if "postgres" in args.stores:
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="actors-claims-pg-")))
    try:
        for kind_of_store in args.stores.split(","):
            for kind in KINDS:
                costs = []
                for n in sizes:
                    name = f"claims_{kind}_{n}"
                    url = (
                        f"sqlite:///{tmp / f'{name}.db'}"
                        if kind_of_store == "sqlite"
                        else fresh_database(server, name)
                    )
                    store = _fill(url, kind, n, analyze=args.analyze)
                    costs.append(_claim_ms(store))
                    store.close()
                shown = ", ".join(f"{n:,}: {c:.2f} ms" for n, c in zip(sizes, costs, strict=True))
                print(
                    f"{kind_of_store:<9} {kind:<9} {shown}  ({costs[-1] / costs[0]:.1f}x)",
                    flush=True,
                )
    finally:
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
