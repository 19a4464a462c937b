"""Cancel an export while it runs: it stops before its next chunk, with what it did saved.

Run it with ``python examples/cancel_a_running_export.py``. The export writes its chunks
one step at a time. Once the first chunk is being written, the user cancels the case;
the runner is told at once and stops the job before its next step, so no later chunk is
written, and the result keeps the chunks written so far. The test beside it checks the
same promise under every interleaving Hypothesis finds: at most one chunk starts once
the cancel has been answered, the one its runner was starting as the cancel came (it
checks for a stop just before it calls the task). (The cancel is stored as it is
answered: on a durable store, a worker that takes the case over after this process died
cancels it too.)
"""

from __future__ import annotations

import threading
from typing import Any

from actors import CancelOutcome, Job, Mediator, Sequential, Workflow

CHUNKS = 4


def export_workflow(write: Any) -> Workflow:
    """``chunk0 -> chunk1 -> ... -> done``: each step writes one chunk with ``write``."""

    def chunk(n: int) -> Any:
        def task(data: dict[str, Any]) -> None:
            write(data["export"], n)
            data.setdefault("written", []).append(n)

        return task

    steps = [
        Sequential(f"chunk{n}", chunk(n), next=f"chunk{n + 1}" if n + 1 < CHUNKS else "done")
        for n in range(CHUNKS)
    ]
    steps.append(Sequential("done", lambda data: {**data, "complete": True}))
    return Workflow("export", steps, start="chunk0")


def main() -> tuple[Job, CancelOutcome, list[int]]:
    """Start an export, cancel it during its first chunk; its result and what was written."""
    writing, go_on = threading.Event(), threading.Event()
    written: list[int] = []

    def write(name: str, n: int) -> None:
        writing.set()
        go_on.wait(30)  # the first chunk is slow: the user cancels meanwhile
        written.append(n)

    with Mediator([export_workflow(write)], runners=1) as mediator:
        handle = mediator.schedule("export", {"export": "orders.csv"})
        writing.wait(30)
        outcome = mediator.cancel(handle.job_id)
        go_on.set()
        job = handle.result(timeout=30)
    return job, outcome, written


if __name__ == "__main__":
    job, outcome, written = main()
    print(f"cancel: {outcome.value}; export {job.state.value} at {job.step!r}")
    print(f"chunks written: {written}; saved with the job: {job.data['written']}")
