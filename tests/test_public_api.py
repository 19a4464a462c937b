"""The public API is exactly these names: adding, renaming or dropping one is a decision.

A change to a list below belongs in the same change as the CHANGELOG entry that
announces it. Every name listed resolves, and nothing private is exported.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "actors": {
        "ActorsError", "Alarm", "CancelOutcome", "Clock", "CodecError", "DeferredChoice",
        "Discriminator", "EngineStoppedError", "EventOutcome", "ExclusiveChoice", "FullMode",
        "Job", "JobExistsError", "JobHandle", "JobNotFoundError", "JobState", "LeaseLostError",
        "MailboxFull", "Mediator", "ParallelSplit", "RequestReaction", "Retry", "Sequential",
        "SimpleMerge", "Spec", "Stats", "Step", "StepContext", "StoreError", "Synchronize",
        "SystemClock", "UnknownWorkflowError", "Wait", "Workflow", "WorkflowDefinitionError",
        "__version__", "enqueue", "enqueue_many", "merge_changes",
    },
    "actors.testing": {
        "Case", "Crash", "Deadlock", "DeterministicFuture", "DeterministicRuntime", "Duplicate",
        "EngineConfig", "EventFault", "Exhaustion", "FaultPlan", "Faults", "GeneratedWorkflow",
        "Harness", "HarnessError", "InjectedCrash", "InvariantViolation", "Livelock",
        "MediatorMachine", "PCT", "Scenario", "SlowReply", "SlowStep", "Stall", "Submission",
        "TraceEntry",
        "VirtualClock", "exhaust", "explore", "replay", "strategies",
    },
    "actors.testing.strategies": {
        "DEFAULT_CRASH_POINTS", "EngineConfig", "GeneratedWorkflow", "Scenario", "engine_configs",
        "fault_plans", "job_data", "scenarios", "shapes", "workflows",
    },
    "actors.admin": {
        "ActionRefusedError", "ActionResult", "Admin", "CaseBusyError", "CaseNode", "CaseTree",
        "HistoryEntry", "JobInfo", "JoinInfo", "Page", "PruneResult", "WorkerInfo", "Workers",
        "operator_name",
    },
    "actors.stores": {
        "Codec", "DEFAULT_CODEC", "MemoryStore", "PostgresStore", "SqlStore", "SqliteStore",
        "Store", "open_store", "register_dataclass",
    },
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_a_public_module_exports_exactly_its_names(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(mod.__all__)
    assert exported == PUBLIC[module], (
        f"{module}: added {sorted(exported - PUBLIC[module])}, "
        f"dropped {sorted(PUBLIC[module] - exported)}"
    )
    assert len(mod.__all__) == len(exported), f"{module}.__all__ names something twice"
    for name in exported:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which it does not define"
        if name != "__version__":
            assert not name.startswith("_"), f"{module} exports the private name {name!r}"
