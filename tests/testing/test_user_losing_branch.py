"""A user's bug: a Discriminator's losing branch makes its effect after the winner went on.

Two suppliers quote; the first quote books the order, and the losing branch is
cancelled. Each branch reserves stock in a step of its own. With threads, the losing
branch's runner may have checked for a stop just before the cancel came, and then runs
its reservation after the booking: the harness must find that schedule.
"""

from __future__ import annotations

from typing import Any

from actors import Discriminator, JobState, ParallelSplit, Sequential, Workflow
from actors.testing import Harness


def _flow(log: list[tuple[str, str]]) -> Workflow:
    def quote(name: str) -> Any:
        def task(data: dict[str, Any]) -> None:
            data["supplier"] = name

        return task

    def reserve(name: str) -> Any:
        def task(data: dict[str, Any]) -> None:
            log.append(("reserve", name))  # the user's external effect, not undone on cancel

        return task

    def book(data: dict[str, Any]) -> None:
        log.append(("book", data["supplier"]))

    return Workflow(
        "quote",
        [
            ParallelSplit("split", branches=["quote_a", "quote_b"]),
            Sequential("quote_a", quote("a"), next="reserve_a"),
            Sequential("reserve_a", reserve("a"), next="first"),
            Sequential("quote_b", quote("b"), next="reserve_b"),
            Sequential("reserve_b", reserve("b"), next="first"),
            Discriminator("first", next="book"),
            Sequential("book", book),
        ],
        "split",
    )


def _reserved_after_booking(seed: int) -> tuple[list[tuple[str, str]], Harness]:
    log: list[tuple[str, str]] = []
    with Harness([_flow(log)], seed=seed, runners=2) as h:
        h.schedule("quote", {})
        (job,) = h.finish()
    assert job.state is JobState.DONE
    booked = log.index(next(e for e in log if e[0] == "book"))
    return log[booked + 1 :], h


def test_the_harness_finds_a_losing_reservation_made_after_the_booking() -> None:
    found = None
    for seed in range(300):
        late, h = _reserved_after_booking(seed)
        if late:
            found = late, h
            break
    assert found is not None, "no schedule let the losing branch reserve after the booking"
    late, h = found
    assert len(late) == 1  # the one step the losing runner was starting, no more
    went_on = [e.detail for e in h.trace if e.action == "go on" and "check was past" in e.detail]
    assert went_on == [f"runs 'reserve_{late[0][1]}': its stop came once its check was past"]
