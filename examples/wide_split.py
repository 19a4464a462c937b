"""One case, thousands of branches: a data-driven split and its join on SQLite.

Run it with ``python examples/wide_split.py [branches]``. A pricing case splits into one
branch per item of its data (``ParallelSplit`` with a function of the data), prices each
item in its own branch, and joins them with a ``Synchronize`` whose merge adds the
prices up. Every branch is a job of its own, saved after its step; each arrival at the
join is a row of its own, so the split costs time in proportion to its width (the
figures for 100,000 branches are in ``docs/how-to/durable-stores.md``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow


def price(item: dict[str, Any]) -> None:
    item["price"] = item["qty"] * 3


def total(parent: dict[str, Any], items: list[dict[str, Any]]) -> None:
    parent["total"] = sum(item["price"] for item in items)
    parent["priced"] = len(items)


# --8<-- [start:flow]
PRICING = Workflow(
    "pricing",
    [
        ParallelSplit("each_item", branches=lambda d: d["items"], each="price"),
        Sequential("price", price, next="sum"),
        Synchronize("sum", merge=total),
    ],
    start="each_item",
)
# --8<-- [end:flow]


def main(branches: int = 2_000, path: str | None = None) -> dict[str, Any]:
    where = path or str(Path(tempfile.mkdtemp(prefix="wide-split-")) / "pricing.db")
    items = [{"sku": n, "qty": n % 5 + 1} for n in range(branches)]
    with Mediator([PRICING], store=f"sqlite:///{where}") as mediator:
        start = time.perf_counter()
        job = mediator.schedule("pricing", {"items": items}).result(timeout=600)
        elapsed = time.perf_counter() - start
    assert job.state is JobState.DONE
    return {"job": job, "seconds": elapsed}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    out = main(n)
    job = out["job"]
    print(
        f"{job.data['priced']:,} branches priced, total {job.data['total']:,}, "
        f"in {out['seconds']:.2f} s ({out['seconds'] / n * 1e6:.0f} us per branch)"
    )
