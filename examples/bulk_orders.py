"""Many orders at once on SQLite: admitted in batches, stored with group commit.

Run it with ``python examples/bulk_orders.py [orders] [batch] [thread|process] [wait]``. Orders
of the order-fulfilment workflow are admitted ``batch`` at a time with ``schedule_many``
(one transaction per batch) into a SQLite file opened with ``commit="group"``: every
step's state is saved, and one writer thread stores the saves of all runners together,
many per transaction (each batch of admissions commits on its own). With ``process`` the
groups, admissions included, are stored by a writer process beside this one
(``writer="process"``), so SQLite runs on another core. ``wait`` is the store's
``group_wait`` in seconds (5 ms by default): how long the writer may wait for more slices
to join a group while orders are under way (0: store each group as soon as it is
gathered). The figures printed show how many slices of saves each transaction carried.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from actors import JobState, Mediator
from actors.stores import SqlStore, open_store
from order_fulfilment import ORDER_FULFILMENT, sample_order


# --8<-- [start:run]
def main(
    orders: int = 200,
    batch: int = 50,
    writer: str = "thread",
    group_wait: float = 0.005,
    path: str | None = None,
) -> dict[str, Any]:
    where = path or str(Path(tempfile.mkdtemp(prefix="bulk-orders-")) / "orders.db")
    store = open_store(f"sqlite:///{where}", commit="group", writer=writer, group_wait=group_wait)
    with Mediator([ORDER_FULFILMENT], runners=4, capacity=500, store=store) as mediator:
        start = time.perf_counter()
        handles = []
        for first in range(0, orders, batch):
            # One call, one transaction: every order of the batch is admitted, or none.
            items = [sample_order(n) for n in range(first, min(first + batch, orders))]
            handles += mediator.schedule_many("order_fulfilment", items)
        jobs = [handle.result(timeout=60) for handle in handles]
        elapsed = time.perf_counter() - start
    assert all(job.state is JobState.DONE for job in jobs)
    assert isinstance(store, SqlStore)
    stats = store.group_stats()
    assert stats is not None
    transactions, slices = stats
    print(
        f"{len(jobs)} orders in {elapsed:.2f}s ({len(jobs) / elapsed:,.0f}/s): "
        f"{slices} slices of saves stored in {transactions} transactions"
    )
    return {"jobs": jobs, "transactions": transactions, "slices": slices}
    # --8<-- [end:run]


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]), *sys.argv[3:4], *map(float, sys.argv[4:5]))
