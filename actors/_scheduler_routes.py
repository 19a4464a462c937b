"""Which Scheduler method handles each message, and the ask for its runners.

Looked up by name as each message comes: a subclass that overrides a handler (a test's
planted bug, say) is served its own, and no Scheduler binds the whole table when it is
made (the test harness makes one for each schedule).
"""

from __future__ import annotations

from actors import messages as m

__all__ = ["HANDLER_NAMES", "GetRunners"]


class GetRunners:
    """Ask the Scheduler for its runners' refs (a task's wait asks it to know it is caught up).

    A shutdown does not: it reads the engine's roster, which outlives a stopped Scheduler.
    """


HANDLER_NAMES: dict[type, str] = {
    m.Admitted: "_on_admitted",
    m.SpawnBranch: "_on_spawn",
    m.BranchArrived: "_on_arrived",
    m.JobParked: "_on_parked",
    m.JobEnded: "_on_ended",
    m.RunnerFailed: "_on_runner_failed",
    m.CaseLost: "_on_case_lost",
    m.LeaseUnvouched: "_on_unvouched",
    m.SliceUnsaved: "_on_slice_unsaved",
    m.JobShed: "_on_shed",
    m.RunnerIdle: "_on_runner_idle",
    m.TimerDue: "_on_timer_due",
    m.Wake: "_on_wake",
    m.DeliverEvent: "_on_event",
    m.JobSendFailed: "_on_send_failed",
    m.CancelJob: "_on_cancel",
    m.OperatorAction: "_on_operator",
    m.TakeCase: "_on_take_case",
    m.GetStats: "_on_stats",
    m.Drain: "_on_drain",
    m.Schedule: "_on_schedule",
    m.ToldSchedule: "_on_told_schedule",
    GetRunners: "_on_get_runners",
}
"""Message type -> the name of the Scheduler's method that handles it."""
