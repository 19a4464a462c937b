"""How a step ends a job or sends it on: the record's change and the ``End`` that go together.

A fault names the step it happened at (and the user's error, when one caused it); a job
whose step has no next step is DONE at that step; a job sent on to another step starts
that step afresh (first attempt, no event). The step interpreter (``actors._interpreter``)
and the runner's end of a slice (``actors._slice_end``) share these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._job import JobRecord, JobState
from actors._saved_wait import step_gone
from actors._step_effects import End

if TYPE_CHECKING:
    from actors._steps import Step
    from actors._workflow import Workflow

# A module global: an enum member read from its class goes through its metaclass's hook.
_DONE = JobState.DONE

__all__ = ["describe", "fault", "finished", "goto", "missing_step", "timed_out"]


def describe(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, as a fault names what the user's code raised."""
    return f"{type(exc).__name__}: {exc}"


def fault(job: JobRecord, step: Step, why: str, cause: BaseException | None = None) -> End:
    """The job faults at ``step`` (it ends there, whatever step it was going on to).

    ``cause``: the exception of the user's code that faulted it, if one did.
    """
    job.step = step.name
    return End(JobState.FAULTED, f"step {step.name!r}: {why}", cause)


def missing_step(job: JobRecord, wf: Workflow) -> End:
    """The job's current step is not in its workflow."""
    return End(JobState.FAULTED, step_gone(job, wf))


def finished(job: JobRecord, step: Step) -> End:
    """``step`` had no next step: the job is DONE and reports the step it ended at."""
    job.step = step.name
    return End(_DONE, job.error)


def timed_out(job: JobRecord, step: Step, target: str | None, why: str) -> End | None:
    """A wait's timeout: go to ``target``, or fault (``why``) when there is none."""
    if target is None:
        return fault(job, step, why)
    goto(job, target)
    return None


def goto(job: JobRecord, target: str | None) -> None:
    """Send the job on to step ``target`` (``None``: it ends), as a first attempt with no event."""
    job.step = target
    job.attempt = 1
    job.event = None
