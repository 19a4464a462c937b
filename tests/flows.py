"""Small workflows and task helpers shared by the tests (imported as a sibling module)."""

from __future__ import annotations

import threading
from typing import Any

import pykka
from bounds import TIMEOUT

from actors import ParallelSplit, Sequential, Synchronize, Workflow


def setter(key: str, value: Any = True) -> Any:
    def task(data: dict[str, Any]) -> None:
        data[key] = value

    task.__name__ = f"set_{key}"
    return task


def workload_w(name: str = "w") -> Workflow:
    """Workload W from DESIGN.md: A -> split(4 x 3 steps) -> join -> B."""
    branches = [f"b{b}s0" for b in range(4)]
    steps: list[Any] = [
        Sequential("A", setter("a"), next="split"),
        ParallelSplit("split", branches=branches),
    ]
    for b in range(4):
        for s in range(3):
            nxt = f"b{b}s{s + 1}" if s < 2 else "join"
            steps.append(Sequential(f"b{b}s{s}", setter(f"b{b}s{s}"), next=nxt))
    steps += [Synchronize("join", next="B"), Sequential("B", setter("b"))]
    return Workflow(name, steps, start="A")


class Gate:
    """A task that blocks until the test opens it (an event, never a sleep)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, data: dict[str, Any]) -> None:
        self.entered.set()
        assert self.opened.wait(TIMEOUT), "the test never opened the gate"


def counting_flow() -> tuple[Workflow, list[int], Any]:
    """A one-step workflow that records ``data["n"]`` of each case it runs.

    Returns the flow, the list of what ran, and ``wait_for(n)``, which waits (on a
    condition, 30 s at most) until ``n`` cases have run.
    """
    ran: list[int] = []
    cond = threading.Condition()

    def step(data: dict[str, Any]) -> None:
        with cond:
            ran.append(data["n"])
            cond.notify_all()

    flow = Workflow("count", start="one", steps=[Sequential("one", step)])

    def wait_for(n: int) -> None:
        with cond:
            assert cond.wait_for(lambda: len(ran) >= n, 30), f"{len(ran)} of {n} cases ran"

    return flow, ran, wait_for


class Told(pykka.ThreadingActor):
    """An actor (a ``reply_to``) that appends what it is told to ``told``, setting ``heard``."""

    def __init__(self, told: list[Any], heard: threading.Event) -> None:
        super().__init__()
        self.told = told
        self.heard = heard

    def on_receive(self, message: Any) -> None:
        self.told.append(message)
        self.heard.set()
