"""Order fulfilment: reserve -> (payment | shipping | notification) -> join -> confirm.

Run it with ``python examples/order_fulfilment.py``. Each branch works on its own copy
of the order; the join merges the three results back into the order before confirming.
"""

from __future__ import annotations

from typing import Any

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    StepContext,
    Synchronize,
    Workflow,
)


# --8<-- [start:tasks]
def reserve(order: dict[str, Any]) -> None:
    order["reserved"] = [item["sku"] for item in order["items"]]


def take_payment(order: dict[str, Any], ctx: StepContext) -> None:
    # A real payment call would send ctx.idempotency_key: a rerun after a crash charges once.
    order["payment"] = {"charged": sum(i["price"] * i["qty"] for i in order["items"])}
    order["payment"]["key"] = ctx.idempotency_key


def book_shipping(order: dict[str, Any]) -> None:
    order["shipping"] = {"carrier": "parcel-post", "parcels": len(order["items"])}


def notify_customer(order: dict[str, Any]) -> None:
    order["notification"] = f"order {order['order_id']} is on its way"


def combine(order: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    payment, shipping, notification = branches
    order["payment"] = payment["payment"]
    order["shipping"] = shipping["shipping"]
    order["notification"] = notification["notification"]


def confirm(order: dict[str, Any]) -> None:
    order["status"] = "confirmed"
    # --8<-- [end:tasks]


# --8<-- [start:workflow]
ORDER_FULFILMENT = Workflow(
    "order_fulfilment",
    start="reserve",
    steps=[
        Sequential("reserve", reserve, next="fan_out"),
        ParallelSplit("fan_out", branches=["payment", "shipping", "notification"]),
        Sequential("payment", take_payment, next="join"),
        Sequential("shipping", book_shipping, next="join"),
        Sequential("notification", notify_customer, next="join"),
        Synchronize("join", merge=combine, next="confirm"),
        Sequential("confirm", confirm),
    ],
)
# --8<-- [end:workflow]


def sample_order(order_id: int) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "items": [{"sku": "tea", "price": 4, "qty": 2}, {"sku": "mug", "price": 9, "qty": 1}],
    }


# --8<-- [start:run]
def main(store: str = "memory://", orders: int = 3) -> list[Any]:
    with Mediator([ORDER_FULFILMENT], runners=4, capacity=100, store=store) as mediator:
        handles = [mediator.schedule("order_fulfilment", sample_order(n)) for n in range(orders)]
        jobs = [handle.result(timeout=30) for handle in handles]
    for job in jobs:
        assert job.state is JobState.DONE, job.error
        print(f"order {job.data['order_id']}: {job.data['status']}, paid {job.data['payment']}")
    return jobs
    # --8<-- [end:run]


if __name__ == "__main__":
    main()
