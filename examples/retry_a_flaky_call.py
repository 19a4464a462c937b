"""A step that calls a flaky service retries it, and its history says why each try failed.

Run it with ``python examples/retry_a_flaky_call.py``. Booking a courier fails twice
(the courier's service is busy) before it succeeds. The ``book`` step's ``Retry`` runs
it again after a short backoff each time; the job waits on a timer in between, with the
last failure as its error. When the third try succeeds the job goes on and ends
``DONE`` with no error, and its step history keeps each failed attempt's reason.
"""

from __future__ import annotations

import threading
from typing import Any

from actors import JobState, Mediator, Retry, Sequential, StepContext, Workflow
from actors.admin import Admin


class Courier:
    """A courier's booking service that is busy for the first ``busy`` calls."""

    def __init__(self, busy: int) -> None:
        self._lock = threading.Lock()
        self.reset(busy)

    def reset(self, busy: int) -> None:
        """Busy for the next ``busy`` calls."""
        self.busy = busy
        self.calls = 0

    def book(self, parcel: int, key: str) -> str:
        with self._lock:
            self.calls += 1
            if self.calls <= self.busy:
                msg = f"courier busy, call {self.calls}"
                raise ConnectionError(msg)
        return f"booking-{parcel}"  # a real service would deduplicate on ``key``


COURIER = Courier(busy=2)


def book(data: dict[str, Any], ctx: StepContext) -> None:
    data["booking"] = COURIER.book(data["parcel"], ctx.idempotency_key)


def label(data: dict[str, Any]) -> None:
    data["label"] = f"label for {data['booking']}"


SHIPMENT = Workflow(
    "shipment",
    start="book",
    steps=[
        # Three tries in all; 0.05 s, then 0.1 s between them (on the engine's timers).
        Sequential("book", book, next="label", retry=Retry(attempts=3, backoff=0.05)),
        Sequential("label", label),
    ],
)


def main() -> tuple[dict[str, Any], list[tuple[str, int, str | None]]]:
    """Ship parcel 7; its final data, and each step the history lists with its error."""
    with Mediator([SHIPMENT], runners=2) as mediator:
        job = mediator.schedule("shipment", {"parcel": 7}).result(timeout=30)
        assert (job.state, job.error) == (JobState.DONE, None), job.error
        with Admin.for_mediator(mediator) as admin:
            history = admin.history(job.id)
    steps = [(e.step or "-", e.attempt, e.error) for e in history if e.kind == "step"]
    return job.data, steps


if __name__ == "__main__":
    data, steps = main()
    print(data)
    for step, attempt, error in steps:
        print(f"{step} attempt {attempt}: {error or 'ok'}")
