"""Two workers on one SQLite store, each serving its own workflows; no case is lost.

Run it with ``python examples/workers_per_workflow.py``. A producer writes cases of two
workflows, ``invoice`` and ``refund``, into one store. The store says which cases wait
for a worker of which workflow (``Store.unclaimed``, what ``actors status`` shows). The
invoice worker starts first: it takes only invoices and leaves every refund untouched
(logging once that refunds wait for a worker that serves them). The refund worker then
takes the refunds. Every case ends DONE, run by the worker that serves its workflow.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from actors import JobState, Mediator, Sequential, Workflow, enqueue
from actors.stores import open_store


# --8<-- [start:run]
def main(cases: int = 3, path: str | None = None) -> dict[str, Any]:
    url = f"sqlite:///{path or Path(tempfile.mkdtemp(prefix='per-workflow-')) / 'jobs.db'}"
    ran: dict[str, str] = {}
    done = threading.Semaphore(0)

    def step(worker: str):  # each worker's own copy of the task records who ran it
        def run(data: dict[str, Any], ctx: Any) -> None:
            ran[ctx.case_id] = worker
            done.release()

        return run

    def invoice(worker: str) -> Workflow:
        return Workflow("invoice", [Sequential("bill", step(worker))], start="bill")

    def refund(worker: str) -> Workflow:
        return Workflow("refund", [Sequential("pay_back", step(worker))], start="pay_back")

    ids = {enqueue(url, invoice("producer"), {"n": n}): "invoice" for n in range(cases)}
    ids |= {enqueue(url, refund("producer"), {"n": n}): "refund" for n in range(cases)}
    store = open_store(url)
    waiting = store.unclaimed(time.time())  # {("invoice", 1): 3, ("refund", 1): 3}
    store.close()

    options = {"store": url, "poll_interval": 0.1}
    with Mediator([invoice("invoices")], owner="invoices", **options):
        for _ in range(cases):  # the invoices run; the refunds stay as they were
            assert done.acquire(timeout=30)
        with Mediator([refund("refunds")], owner="refunds", **options):
            for _ in range(cases):
                assert done.acquire(timeout=30)

    store = open_store(url)
    try:
        states = {case: store.get(case).state for case in ids}
    finally:
        store.close()
    assert all(state is JobState.DONE for state in states.values())
    for case, workflow in ids.items():
        print(f"{workflow} {case}: {states[case].value}, run by the {ran[case]} worker")
    return {"waiting": waiting, "ran": ran, "workflows": ids}
    # --8<-- [end:run]


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
