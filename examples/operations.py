"""A shop's order workflow to operate from the command line (docs/how-to/operations.md).

Each order reserves stock, then charges the card and books shipping in parallel, joins,
and waits for the warehouse to confirm the parcel left (an event, answered by hand in the
how-to). A card marked ``"expired"`` makes the charge fail until the payment provider is
fixed (``PAYMENTS_FIXED=1`` in the worker's environment): the order faults, and the
operator retries it.

    export ACTORS_STORE=sqlite:///shop.db
    actors worker --workflows operations
    actors enqueue order --workflows operations --id order-1 --data '{"order":1,"card":"expired"}'

Run ``python examples/operations.py`` to go through the same story in one process with
``actors.admin``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    StepContext,
    Synchronize,
    Workflow,
)
from actors.admin import Admin


def reserve(data: dict[str, Any]) -> None:
    data["reserved"] = True


def charge(data: dict[str, Any], ctx: StepContext) -> None:
    if data.get("card") == "expired" and not os.environ.get("PAYMENTS_FIXED"):
        msg = f"card declined for order {data['order']}"
        raise RuntimeError(msg)
    data["charged"] = ctx.idempotency_key  # the payment provider deduplicates on this


def ship(data: dict[str, Any]) -> None:
    data["label"] = f"parcel-{data['order']}"


def ask_warehouse(data: dict[str, Any], ctx: StepContext) -> None:
    data["waiting_on"] = ctx.correlation_id  # a real shop would call the warehouse here


def dispatched(data: dict[str, Any], reply: Any) -> None:
    data["dispatched"] = reply


ORDER = Workflow(
    "order",
    start="reserve",
    steps=[
        Sequential("reserve", reserve, next="fan_out"),
        ParallelSplit("fan_out", branches=["charge", "ship"]),
        Sequential("charge", charge, next="join"),
        Sequential("ship", ship, next="join"),
        Synchronize("join", next="dispatch"),
        RequestReaction("dispatch", send=ask_warehouse, on_reply=dispatched),
    ],
)
WORKFLOWS = [ORDER]


def _wait(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            msg = "timed out"
            raise TimeoutError(msg)
        threading.Event().wait(0.01)


def main(url: str = "memory://") -> dict[str, Any]:
    """Fault an order, fix the bug, retry it, answer its event: return what happened."""
    os.environ.pop("PAYMENTS_FIXED", None)
    with Mediator(WORKFLOWS, store=url) as mediator:
        admin = Admin.for_mediator(mediator, operator="ops")
        faulted = mediator.schedule("order", {"order": 1, "card": "expired"}, job_id="order-1")
        assert faulted.result(timeout=10).state is JobState.FAULTED
        found = [job.id for job in admin.jobs(state="faulted", cases_only=True).items]
        os.environ["PAYMENTS_FIXED"] = "1"  # the provider is fixed
        retried = admin.retry("order-1")
        _wait(lambda: admin.job("order-1").correlation_ids == ("order-1/dispatch",))
        answered = admin.send_event("order-1/dispatch", {"carrier": "DHL"})
        _wait(lambda: admin.job("order-1").state is JobState.DONE)
        history = [e.action for e in admin.history("order-1") if e.kind == "action"]
        return {
            "faulted": found,
            "retry": retried.outcome,
            "event": answered.outcome,
            "data": admin.job("order-1").data,
            "actions": history,
        }


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key}: {value}")
