"""A branch whose step fails takes a compensating step, and the case still completes.

Run it with ``python examples/compensate_a_failed_branch.py``. An order splits into a
payment branch and a shipping branch. When shipping fails (no carrier serves the
address), the ``ship`` step's fault path takes over: ``on_fault(data, error)`` records
the error in the branch's data, and ``fault_next`` routes the branch to ``refund``, the
compensating step, which then joins like any branch. The case ends ``DONE`` with the
refund in its data, instead of ``FAULTED`` with a join that lost a branch.
"""

from __future__ import annotations

from typing import Any

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow


def charge(data: dict[str, Any]) -> None:
    data["charged"] = data["amount"]


def ship(data: dict[str, Any]) -> None:
    if data["country"] not in {"DE", "FR"}:
        msg = f"no carrier serves {data['country']}"
        raise RuntimeError(msg)
    data["shipped"] = True


def note_failure(data: dict[str, Any], error: Exception) -> None:
    data["ship_error"] = str(error)  # the exception the task raised


def refund(data: dict[str, Any]) -> None:
    data["refunded"] = data["amount"]  # a real step would call the payment provider


def confirm(data: dict[str, Any]) -> None:
    data["outcome"] = "refunded" if "refunded" in data else "shipped"


# --8<-- [start:flow]
ORDER = Workflow("order", start="split", steps=[
    ParallelSplit("split", branches=["charge", "ship"]),
    Sequential("charge", charge, next="join"),
    Sequential("ship", ship, next="join", on_fault=note_failure, fault_next="refund"),
    Sequential("refund", refund, next="join"),          # the compensating step
    Synchronize("join", next="confirm"),
    Sequential("confirm", confirm),
])  # fmt: skip
# --8<-- [end:flow]


def main() -> list[dict[str, Any]]:
    """Two orders: one ships, one cannot and is refunded; both cases end DONE."""
    with Mediator([ORDER]) as mediator:
        handles = [
            mediator.schedule("order", {"amount": 30, "country": country})
            for country in ("DE", "NZ")
        ]
        jobs = [handle.result(timeout=10) for handle in handles]
    assert all(job.state is JobState.DONE for job in jobs)
    return [job.data for job in jobs]


if __name__ == "__main__":
    for data in main():
        print(data)
