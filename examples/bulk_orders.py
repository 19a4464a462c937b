"""Many orders at once on SQLite, stored with group commit.

Run it with ``python examples/bulk_orders.py [orders] [producers]``. Several producer
threads schedule orders of the order-fulfilment workflow on a SQLite file opened with
``commit="group"``: every step's state is saved, and one writer thread stores the saves of
all runners (and the producers' admissions) together, many per transaction. The figures
printed show how many saves each transaction carried.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from actors import JobState, Mediator
from actors.stores import SqlStore, open_store
from order_fulfilment import ORDER_FULFILMENT, sample_order


# --8<-- [start:run]
def main(orders: int = 200, producers: int = 4, path: str | None = None) -> dict[str, Any]:
    where = path or str(Path(tempfile.mkdtemp(prefix="bulk-orders-")) / "orders.db")
    store = open_store(f"sqlite:///{where}", commit="group")
    handles: list[Any] = []
    lock = threading.Lock()
    with Mediator([ORDER_FULFILMENT], runners=4, capacity=500, store=store) as mediator:

        def produce(first: int) -> None:
            for n in range(first, orders, producers):
                handle = mediator.schedule("order_fulfilment", sample_order(n))
                with lock:
                    handles.append(handle)

        start = time.perf_counter()
        threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
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
    main(*(int(arg) for arg in sys.argv[1:3]))
