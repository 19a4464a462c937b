"""Whether a job saved at a step can go on there as its workflow defines that step now.

A job is saved with what it waits on: its branches (a split), a due time (a timer), or
neither while parked (an event), or with what released it (a timer's ring, a reply, an
event, its join). Workflows are looked up by name and version, so a workflow deployed
again under the same version with a step of another kind meets jobs saved by the old
one. Some such jobs cannot go on: one parked on an event at a step that is now a
``Wait`` waits for ever (no event is taken there, and the Wait's timer was never armed);
a join's release saved for a step that is no join would be taken for a branch's
arrival. Recovery faults those when it resumes them, naming the step, what the job was
saved waiting on and what the step is now. What the step now would have saved too goes
on: a timer at a ``Sequential`` is its retry's backoff, after which the task runs again
(with or without a retry policy now); a reply or event at a step that takes none is
ignored there, resumed or not (one sent by hand to the wrong job). An event a
``DeferredChoice`` lacks (a typo sent by hand) faults the job at its step too, saying so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._engine import job_log, logger
from actors._job import JobState
from actors._steps import (
    DeferredChoice,
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    RequestReaction,
    Sequential,
    SimpleMerge,
    Synchronize,
    Wait,
)

if TYPE_CHECKING:
    from actors._job import JobRecord
    from actors._steps import Step
    from actors._workflow import Workflow

__all__ = ["ignore_stray_event", "saved_wait_problem", "step_gone"]

_JOINS = (Synchronize, Discriminator)
# Steps that run on past a reply or event they do not take (it is dropped, or a Wait
# starts its timer again), as they do when the job was not resumed.
_IGNORE_REPLIES = (Sequential, Wait, ExclusiveChoice, SimpleMerge, ParallelSplit)


def _has_timer(step: Step) -> bool:
    """Whether ``step`` parks a job on a timer: a wait, a retry's backoff, a timeout."""
    if isinstance(step, Wait | Sequential):
        return True
    return isinstance(step, RequestReaction | DeferredChoice) and step.timeout is not None


def _released(event: tuple[str, str, object], step: Step) -> tuple[str, str] | None:
    """``_mismatch`` for a job released by ``event`` (not yet applied at its step)."""
    kind, name, _ = event
    if kind not in ("join", "timer") and isinstance(step, _IGNORE_REPLIES):
        # A reply or event sent to a job at such a step (by hand, to the wrong job) is
        # ignored there as the job runs on, resumed or not: nothing to fault.
        return None
    if kind == "join":
        fits, saved, lacks = isinstance(step, _JOINS), "its join", "which is no join"
    elif kind == "timer":
        fits, saved, lacks = _has_timer(step), "its timer", "which has no timer"
    elif not name:  # a RequestReaction's reply (or fault reply)
        fits, lacks = isinstance(step, RequestReaction), "which takes no reply"
        saved = f"a {'fault ' if kind == 'fault' else ''}reply"
    else:  # an event of a DeferredChoice; a fault of one takes the fault path, whichever
        saved = f"{'a fault of ' if kind == 'fault' else ''}event {name!r}"
        fits, lacks = isinstance(step, DeferredChoice), "which takes no event"
        if isinstance(step, DeferredChoice) and kind != "fault" and name not in step.events:
            fits, lacks = False, f"which has no event {name!r}"
    return None if fits else (f"released by {saved}", lacks)


def _mismatch(job: JobRecord, step: Step) -> tuple[str, str] | None:
    """``(what the job was saved waiting on, what step lacks)``, or ``None`` if it fits."""
    if job.state is JobState.WAITING and job.split_total and not job.joined:
        fits = isinstance(step, ParallelSplit)
        return None if fits else ("waiting on its branches", "which starts no branches")
    if job.event is not None:
        return _released(job.event, step)
    if job.state is not JobState.WAITING:
        return None  # ready to run its step afresh, whatever the step is
    if job.due is not None:
        return None if _has_timer(step) else ("waiting on a timer", "which has no timer")
    fits = isinstance(step, RequestReaction | DeferredChoice)
    return None if fits else ("waiting on an event", "which waits on no event")


def _kind(step: Step) -> str:
    name = type(step).__name__
    article = "an" if name[0] in "AEIOU" else "a"
    if isinstance(step, RequestReaction | DeferredChoice) and step.timeout is None:
        return f"{article} {name} with no timeout"
    return f"{article} {name}"


def saved_wait_problem(job: JobRecord, wf: Workflow) -> str | None:
    """Why ``job``, as saved, cannot go on at its step of ``wf`` now; ``None`` if it can.

    ``job``'s step is one of ``wf``'s (a missing step is another fault).
    """
    if job.state.is_final:
        return None
    step = wf.steps[job.step or ""]
    found = _mismatch(job, step)
    where, subject = step, f"step {step.name!r}"
    if found is None and job.state is JobState.WAITING and job.split_total and not job.joined:
        # The branches that arrived before the save met at a join: is it one still?
        join = wf.steps.get(job.join_step or "")
        if join is not None and not isinstance(join, _JOINS):
            found = "waiting on its branches", "which is no join"
            where, subject = join, f"step {join.name!r}, where its branches met,"
    if found is None:
        return None
    saved, lacks = found
    version = wf.version
    event = job.event
    if isinstance(where, DeferredChoice) and event and event[0] == "reply" and event[1]:
        # Its kind is unchanged: the event never was one of its own (sent by hand, with
        # no workflow to check it against), or the step's events were renamed in place.
        return (
            f"saved {saved} at step {job.step!r}, but {subject} of workflow {wf.name!r} "
            f"v{version} ({_kind(where)}) has no event {event[1]!r}: it was sent by "
            "hand without the workflow to check it, or the step's events were renamed "
            f"within v{version}; actors jobs retry sets the job waiting there again "
            f"(rename events in a new workflow version, version={version + 1})"
        )
    return (
        f"saved {saved} at step {job.step!r}, but {subject} of workflow {wf.name!r} "
        f"v{version} is now {_kind(where)}, {lacks}; change a step's kind in a new "
        f"workflow version (version={version + 1}) and keep serving v{version} until its "
        f"cases end{_edited(job, where)}"
    )


def _edited(job: JobRecord, step: Step) -> str:
    """The column an edit by hand may have emptied, if the mismatch can come of one too.

    A job waits at a ``Wait`` with a due time, and on a split with its count of
    branches: without them its row reads as a job parked on an event, as one saved at a
    step that was a ``RequestReaction`` before does.
    """
    if job.state is not JobState.WAITING or job.event is not None:
        return ""
    if isinstance(step, Wait) and job.due is None:
        column = "due time"
    elif isinstance(step, ParallelSplit) and not job.split_total:
        column = "split_total"
    else:
        return ""
    return (
        f" (if step {step.name!r} was {_kind(step)} when the job was saved, its row's "
        f"{column} was emptied by hand: 'actors jobs retry {job.id}' runs the step again)"
    )


def step_gone(job: JobRecord, wf: Workflow) -> str:
    """Why ``job`` cannot run on: its step is not one of ``wf``'s, and what to do about it.

    A step renamed or removed under the same version, or a reset (``jobs retry --from``)
    to a step the workflow never had, unchecked.
    """
    version = wf.version
    if job.step is None:  # no save writes a NULL step: the row was edited
        return (
            f"its row's step is NULL, where a job of workflow {wf.name!r} v{version} is "
            f"saved at one of its steps: 'actors jobs retry {job.id} --from STEP' runs this "
            f"job on from a step v{version} has"
        )
    return (
        f"workflow {wf.name!r} v{version} has no step {job.step!r}: rename or remove a "
        f"step in a new workflow version (version={version + 1}) and keep serving "
        f"v{version} until its cases end; 'actors jobs retry {job.id} --from STEP' runs "
        f"this job on from a step v{version} has"
    )


def ignore_stray_event(job: JobRecord, step: Step) -> None:
    """Drop the event a job at a ``Wait`` was sent by hand (a Wait takes none), saying so.

    Only an operator sending to the wrong job without the workflows at hand (``actors
    events send`` without ``--workflows``) delivers one; the wait then starts again.
    """
    assert job.event is not None
    kind, name, _ = job.event
    logger.warning(
        "job %s: Wait step %r takes no event, but was sent %s%s by hand; it is ignored and "
        "the wait starts again",
        job.id,
        step.name,
        "a fault" if kind == "fault" else "an event",
        f" {name!r}" if name else "",
        extra=job_log(job),
    )
    job.event = None
