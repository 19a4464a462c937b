"""Fill a SQLite store with shipments in every state, then look at them in the dashboard.

Run ``python examples/dashboard.py`` (it writes ``dashboard.db``, runs a worker for a
few seconds and stops), then serve the dashboard over the same store::

    actors ui --store sqlite:///dashboard.db --workflows examples.dashboard

and open http://127.0.0.1:8400/. Most shipments are DONE; the carrier was down for
some, so their ``label`` branch FAULTED (retry it from the case page while a worker
runs: ``actors worker --store sqlite:///dashboard.db --workflows examples.dashboard``);
the rest wait for a pickup confirmation that only an operator sends (the send-event
button, with the correlation id the page shows), or for someone to cancel them.
"""

from __future__ import annotations

import queue
import sys
from typing import Any

from actors import (
    ExclusiveChoice,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Spec,
    StepContext,
    Synchronize,
    Workflow,
)


def label(data: dict[str, Any], ctx: StepContext) -> None:
    """Book the carrier's label; the carrier is down for parcels marked ``carrier_down``.

    It comes back for the next attempt, as outages do: retry the faulted branch (the
    dashboard's retry button, or ``actors jobs retry``) and the shipment goes through.
    """
    if data.get("carrier_down") and ctx.attempt == 1:
        msg = f"carrier refused parcel {data['parcel']}: service unavailable"
        raise ConnectionError(msg)
    data["label"] = f"LBL-{data['parcel']}"


def check(data: dict[str, Any]) -> None:
    data["checked"] = True


def invoice(data: dict[str, Any]) -> None:
    data["invoice"] = f"INV-{data['parcel']}"


# The pickup desk: where requests go. A person answers them (from the dashboard's
# send-event form, with the correlation id the request carries).
PICKUP_DESK: queue.Queue[str] = queue.Queue()


def request_pickup(data: dict[str, Any], ctx: StepContext) -> None:
    data["pickup_requested"] = True
    PICKUP_DESK.put(ctx.correlation_id)


def picked_up(data: dict[str, Any], reply: Any) -> None:
    data["picked_up"] = reply


def confirm(data: dict[str, Any]) -> None:
    data["confirmed"] = True


SHIPMENT = Workflow(
    "shipment",
    start="check",
    version=1,
    steps=[
        Sequential("check", check, next="fan_out"),
        ParallelSplit("fan_out", branches=["label", "invoice"]),
        Sequential("label", label, next="join"),
        Sequential("invoice", invoice, next="join"),
        Synchronize("join", next="pickup?"),
        ExclusiveChoice(
            "pickup?",
            Spec(lambda d: bool(d.get("pickup")), "pickup booked"),
            if_true="await_pickup",
            if_false="confirm",
        ),
        RequestReaction("await_pickup", send=request_pickup, on_reply=picked_up, next="confirm"),
        Sequential("confirm", confirm),
    ],
)

WORKFLOWS = [SHIPMENT]


def fill(store: str, *, done: int = 12, faulted: int = 3, waiting: int = 2) -> Mediator:
    """Start a worker on ``store`` and schedule shipments that end in each state.

    DONE ones need no pickup; FAULTED ones meet a carrier that is down; WAITING ones
    wait for an operator to confirm their pickup. Returns the running Mediator once the
    DONE and FAULTED ones have ended and the others have asked for their pickup.
    """
    mediator = Mediator(WORKFLOWS, runners=2, store=store)
    handles = []
    for n in range(done):
        handles.append(mediator.schedule("shipment", {"parcel": n}, job_id=f"parcel-{n}"))
    for n in range(done, done + faulted):
        data = {"parcel": n, "carrier_down": True}
        handles.append(mediator.schedule("shipment", data, job_id=f"parcel-{n}"))
    for n in range(done + faulted, done + faulted + waiting):
        mediator.schedule("shipment", {"parcel": n, "pickup": True}, job_id=f"parcel-{n}")
    for handle in handles:
        handle.result(timeout=30)
    for _ in range(waiting):
        PICKUP_DESK.get(timeout=30)
    return mediator


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///dashboard.db"
    worker = fill(url)
    worker.shutdown(drain=False)
    shown = worker.store.url  # a store's url never shows a password
    print(f"filled {shown}; now run: actors ui --store {shown} --workflows examples.dashboard")
