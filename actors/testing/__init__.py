"""Test support for workflows built on ``actors``: a deterministic simulation harness.

``Harness`` runs the engine's own Scheduler and Runner actors without threads, one
delivery at a time, every choice made by a seeded chooser or by Hypothesis; it checks
the engine's invariants after every delivery, reports deadlocks and livelocks, injects
faults (``FaultPlan``) and replays any run from its seed. ``strategies`` generates
valid workflows, engine configurations, fault plans and whole scenarios;
``MediatorMachine`` is a ready-made Hypothesis state machine. A pytest plugin (loaded
automatically) provides the ``harness``, ``virtual_clock`` and ``mediator`` fixtures.

Names are imported on first use, so importing this package (or its pytest plugin)
stays cheap and does not import Hypothesis until a strategy or the machine is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.testing import strategies
    from actors.testing._clock import VirtualClock
    from actors.testing._errors import (
        Deadlock,
        HarnessError,
        InjectedCrash,
        InvariantViolation,
        Livelock,
    )
    from actors.testing._external import Submission
    from actors.testing._faults import (
        Crash,
        Duplicate,
        EventFault,
        FaultPlan,
        SlowReply,
        SlowStep,
        Stall,
    )
    from actors.testing._future import DeterministicFuture
    from actors.testing._generated import GeneratedWorkflow
    from actors.testing._harness import Harness
    from actors.testing._replay import explore, replay
    from actors.testing._report import TraceEntry
    from actors.testing._runtime import DeterministicRuntime
    from actors.testing._scenario import Case, EngineConfig, Scenario
    from actors.testing._search import PCT, Exhaustion, exhaust
    from actors.testing._stateful import MediatorMachine

    Faults = FaultPlan

__all__ = [
    "PCT",
    "Case",
    "Crash",
    "Deadlock",
    "DeterministicFuture",
    "DeterministicRuntime",
    "Duplicate",
    "EngineConfig",
    "EventFault",
    "Exhaustion",
    "FaultPlan",
    "Faults",
    "GeneratedWorkflow",
    "Harness",
    "HarnessError",
    "InjectedCrash",
    "InvariantViolation",
    "Livelock",
    "MediatorMachine",
    "Scenario",
    "SlowReply",
    "SlowStep",
    "Stall",
    "Submission",
    "TraceEntry",
    "VirtualClock",
    "exhaust",
    "explore",
    "replay",
    "strategies",
]

_WHERE = {
    "Case": "_scenario",
    "Crash": "_faults",
    "Deadlock": "_errors",
    "DeterministicFuture": "_future",
    "DeterministicRuntime": "_runtime",
    "Duplicate": "_faults",
    "EngineConfig": "_scenario",
    "EventFault": "_faults",
    "Exhaustion": "_search",
    "FaultPlan": "_faults",
    "GeneratedWorkflow": "_generated",
    "Harness": "_harness",
    "HarnessError": "_errors",
    "InjectedCrash": "_errors",
    "InvariantViolation": "_errors",
    "Livelock": "_errors",
    "MediatorMachine": "_stateful",
    "PCT": "_search",
    "Scenario": "_scenario",
    "SlowReply": "_faults",
    "SlowStep": "_faults",
    "Stall": "_faults",
    "Submission": "_external",
    "TraceEntry": "_report",
    "VirtualClock": "_clock",
    "exhaust": "_search",
    "explore": "_replay",
    "replay": "_replay",
}


def __getattr__(name: str) -> Any:
    if name == "strategies":
        return importlib.import_module("actors.testing.strategies")
    if name == "Faults":  # the DESIGN's name for a fault plan
        name = "FaultPlan"
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'actors.testing' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"actors.testing.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
