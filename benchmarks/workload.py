"""Workload W (DESIGN.md) as an ``actors`` workflow, shared by the engine benchmarks."""

from __future__ import annotations

import time
from typing import Any

from actors import ParallelSplit, Sequential, Synchronize, Workflow

BRANCHES = 4
STEPS_PER_BRANCH = 3
STEPS_PER_WORKFLOW = 1 + BRANCHES * STEPS_PER_BRANCH + 1


def _set(key: str) -> Any:
    def task(data: dict[str, Any]) -> None:
        data[key] = True

    return task


def workload_w(name: str = "w") -> Workflow:
    """A -> split into 4 branches of 3 no-op steps -> Synchronize -> B (14 tasks)."""
    steps: list[Any] = [
        Sequential("A", _set("a"), next="split"),
        ParallelSplit("split", branches=[f"b{b}s0" for b in range(BRANCHES)]),
    ]
    for b in range(BRANCHES):
        for s in range(STEPS_PER_BRANCH):
            nxt = f"b{b}s{s + 1}" if s < STEPS_PER_BRANCH - 1 else "join"
            steps.append(Sequential(f"b{b}s{s}", _set(f"b{b}s{s}"), next=nxt))
    steps += [Synchronize("join", next="B"), Sequential("B", _set("b"))]
    return Workflow(name, steps, start="A")


def one_step(name: str = "one") -> Workflow:
    """A single no-op step: the cheapest job, for admission and memory benchmarks."""
    return Workflow(name, [Sequential("only", _set("x"))], start="only")


W = workload_w()
"""Workload W as a module attribute, for ``actors worker --workflows workload:W``."""


def _stamp(data: dict[str, Any]) -> None:
    data["started"] = time.time()


def stamped(name: str = "stamp") -> Workflow:
    """One step that records when it ran: for enqueue-to-first-step latency."""
    return Workflow(name, [Sequential("stamp", _stamp)], start="stamp")


STAMP = stamped()
"""``stamped()`` as a module attribute, for ``actors worker --workflows workload:STAMP``."""
