"""The step interpreter: what running one step of a job means, with no actor, clock or store.

A runner owns the record of the job it runs. For each step it asks the interpreter to run
the job's current step: the interpreter calls the step's own functions (the task, a
choice's spec, a handler, a join's merge), changes the record as the step says, and
returns ``None`` to go on to the job's next step (the runner saves first) or the effect
that ends the runner's slice of the job: ``End``, ``Park``, ``Request``, ``Split`` or
``Arrive``. The runner carries the effect out: it reads the clock, stores, makes branch
ids and tells the Scheduler. So everything a step's outcome means is here, and can be
tested over any outcome without threads or a store (``tests/core/test_interpreter.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from actors._branch_items import RefusedItemsError, branch_starts
from actors._copy import copy_data
from actors._engine import job_log, logger
from actors._errors import CodecError, EngineStoppedError, StepCutShort, user_error
from actors._job import JobRecord, JobState
from actors._merges import default_merge, reverted_keys
from actors._redact import error_text
from actors._returned import Returned, returned_by
from actors._saved_wait import ignore_stray_event
from actors._seconds import seconds_problem
from actors._step_effects import Arrive, Effect, End, Park, Request, Split
from actors._step_ends import describe, fault, finished, goto, timed_out
from actors._steps import (
    DeferredChoice,
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    RequestReaction,
    Sequential,
    SimpleMerge,
    Step,
    Synchronize,
    Wait,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._workflow import Workflow
    from actors.stores._codec import Codec

# A module global: an enum member read from its class goes through its metaclass's hook.
_WAITING = JobState.WAITING

__all__ = [
    "Arrive",
    "Effect",
    "End",
    "Interpreter",
    "Park",
    "Request",
    "Split",
    "correlations_for",
]


def correlations_for(job: JobRecord, step: Step) -> tuple[tuple[str, str], ...]:
    """The (correlation id, event name) pairs a job parked at ``step`` waits on."""
    if isinstance(step, RequestReaction):
        return ((f"{job.id}/{step.name}", ""),)
    if isinstance(step, DeferredChoice):
        return tuple((f"{job.id}/{step.name}/{name}", name) for name in step.events)
    return ()


def _handle(job: JobRecord, step: Step, what: str, handler: Any, *args: Any) -> End | None:
    """Apply ``handler(data, *args)`` to the job's data; the fault if it raised."""
    try:
        result = handler(job.data, *args)
    except BaseException as exc:
        if not user_error(exc):
            raise
        return fault(job, step, f"{what} raised {describe(exc)}", exc)
    if result is not None:
        job.data = result
    return None


MERGE_CHECKS = 100  # firings of each join a runner checks for a write its default merge undoes


class Interpreter:
    """Runs one step of a job on its record; ``codec`` checks the data branches start with.

    ``KINDS`` maps each step class to its handler, called as ``(interpreter, job, step,
    wf) -> Effect | None``: one table for every runner (a runner of the test harness is
    made for every schedule it runs).
    """

    KINDS: ClassVar[dict[type, Callable[..., Effect | None]]] = {}

    def __init__(
        self,
        codec: Codec | None,
        stopping: Callable[[], bool] | None = None,
        cancelled: Callable[[JobRecord], str | None] | None = None,
    ) -> None:
        self.codec = codec
        self._stopping = stopping  # whether the engine shuts down (admission closed)
        self._cancelled = cancelled  # why the job was cancelled while its step ran, if it was
        # Workflows are compared by identity: a registry replacing one makes a new table.
        self._plain: dict[Workflow, dict[str | None, tuple[Sequential, Any, str | None]]] = {}
        # Per join of a workflow: how many more of its firings to check for a write the
        # default merge puts back (see _check_merge); none once it has warned.
        self._merge_checks: dict[tuple[str, int, str], int] = {}
        self.returned: Returned | None = None
        """``(job id, step, value)`` of the last task or merge that returned data other than
        a dict.

        A later step that fails on that very value names that step (the task's, or the
        join's whose merge it was) in its fault: its own code only found the data wrong.
        """

    def plain_tasks(self, wf: Workflow) -> dict[str | None, tuple[Sequential, Any, str | None]]:
        """``wf``'s Sequential steps whose task takes only the data: name -> (step, task, next).

        What ``sequential`` does for these is the same every time (call the task, go to
        ``next``), so a runner may do it inline, with no dispatch, as long as it calls
        ``failed`` when the task raises. Made once per workflow and kept.
        """
        table = self._plain.get(wf)
        if table is None:
            context = wf.context_steps
            table = self._plain[wf] = {
                name: (step, step.task, step.next)
                for name, step in wf.steps.items()
                if type(step) is Sequential and name not in context
            }
        return table

    def step(self, job: JobRecord, step: Step, wf: Workflow) -> Effect | None:
        """Run ``step`` (the job's current one); ``None``: save and go on to ``job.step``."""
        effect = self.KINDS[type(step)](self, job, step, wf)
        if effect is None and job.step is None:
            return finished(job, step)
        return effect

    # -- one handler per step kind ---------------------------------------------------------

    def sequential(self, job: JobRecord, step: Sequential, wf: Workflow) -> Effect | None:
        """Run the task; on an error retry, take the fault path, or fault."""
        job.event = None  # a retry timer's release carries nothing to apply
        try:
            if step.name in wf.context_steps:
                result = step.task(job.data, job.context())
            else:
                result = step.task(job.data)
            if result is not None:
                job.data = result
                if type(result) is not dict:
                    self.returned = (job.id, step, result)
        except BaseException as exc:
            if not user_error(exc):
                raise
            return self.failed(job, step, exc)
        job.step = step.next
        if job.attempt != 1:  # a retry that succeeded: its last failure is over
            job.attempt = 1
            job.error = None
        return None

    def failed(self, job: JobRecord, step: Sequential, exc: BaseException) -> Effect | None:
        """``step``'s task raised ``exc``: retry it, take its fault path, or fault."""
        if isinstance(exc, EngineStoppedError) and self._stopping is not None and self._stopping():
            raise StepCutShort(step.name) from exc
        # Cancelled while the step ran: the cancel was answered, so the job ends CANCELLED
        # as it would had the step returned; no retry, no fault path, no fault.
        if self._cancelled is not None and (cancel := self._cancelled(job)) is not None:
            return End(JobState.CANCELLED, cancel)
        retry = step.retry
        why = f"{describe(exc)} (attempt {job.attempt}){self._returned_by(job, step)}"
        if retry is not None and job.attempt < retry.attempts and isinstance(exc, retry.on):
            delay = retry.delay(job.attempt)
            job.attempt += 1
            # The job's last failure, until an attempt succeeds: the save that schedules
            # the retry records it in the step history, and a snapshot of the waiting
            # job shows it. Masked as a fault's error is (it is stored and shown).
            job.error = error_text(f"step {step.name!r}: {why}")
            logger.info(
                "job %s step %r failed (%s); attempt %d in %.3fs",
                job.id,
                step.name,
                error_text(describe(exc)),
                job.attempt,
                delay,
                extra=job_log(job),
            )
            return Park(delay) if delay > 0 else None  # None: saved, then the step again
        if not step.has_fault_path:
            return fault(job, step, why, exc)
        job.error = None  # the fault path handles it: the job goes on, not failing
        if step.on_fault is not None:
            try:
                result = step.on_fault(job.data, exc)
            except BaseException as handler_exc:
                if not user_error(handler_exc):
                    raise
                why = f"on_fault raised {describe(handler_exc)} handling {describe(exc)}"
                return fault(job, step, why, handler_exc)
            if result is not None:
                job.data = result
        goto(job, step.fault_next)
        return None

    def _returned_by(self, job: JobRecord, step: Step) -> str:
        """Which earlier task or merge returned the job's data, if not a dict; else ``""``."""
        return returned_by(self.returned, job, step)

    def choice(self, job: JobRecord, step: ExclusiveChoice, wf: Workflow) -> Effect | None:
        """Go to ``if_true`` or ``if_false`` as the spec says."""
        try:
            holds = bool(step.spec(job.data))
        except BaseException as exc:
            if not user_error(exc):
                raise
            why = f"spec raised {describe(exc)}{self._returned_by(job, step)}"
            return fault(job, step, why, exc)
        goto(job, step.if_true if holds else step.if_false)
        return None

    def split(self, job: JobRecord, step: ParallelSplit, wf: Workflow) -> Effect | None:
        """Make the branches' starts (each with its own copy of the data); wait on them."""
        try:
            starts = branch_starts(step, job.data, self.codec)
        except RefusedItemsError as exc:
            return fault(job, step, str(exc))
        except CodecError as exc:
            return fault(job, step, f"data cannot be stored: {exc}")
        except BaseException as exc:
            if not user_error(exc):
                raise
            why = f"could not make the branches: {describe(exc)}{self._returned_by(job, step)}"
            return fault(job, step, why, exc)
        if not starts:
            return fault(job, step, "the branches function returned no instances")
        job.gen += 1
        job.state = _WAITING
        job.split_step = step.name
        job.split_total = len(starts)
        job.arrivals = {}
        job.join_step = None
        job.joined = False
        job.branch_error = None
        job.branch_cancelled = False
        return Split(starts)

    def join(
        self, job: JobRecord, step: Synchronize | Discriminator, wf: Workflow
    ) -> Effect | None:
        """A parent released by its branches merges their datas; a branch arrives and ends."""
        if job.event is not None and job.event[0] == "join":
            total = job.split_total
            stray = sorted(i for i in job.arrivals if total and not 0 <= i < total)
            if stray:  # a stored branch index outside the split (a row changed by hand)
                why = f"branch index(es) {stray} arrived at a split of {total} branches"
                return fault(job, step, f"{why}; the branches' rows are inconsistent")
            datas = [job.arrivals[i] for i in sorted(job.arrivals)]
            if step.merge is None and self._merge_checks.get((wf.name, wf.version, step.name), 1):
                self._check_merge(job, step, wf, datas)
            try:
                merged = (step.merge or default_merge)(job.data, datas)
            except BaseException as exc:
                if not user_error(exc):
                    raise
                return fault(job, step, f"merge raised {describe(exc)}", exc)
            if merged is not None:
                job.data = merged
                if type(merged) is not dict:  # named if a later step fails on it
                    self.returned = (job.id, step, merged)
            job.arrivals = {}
            job.split_total = 0
            goto(job, step.next)
            return None
        if job.parent_id is None:
            return fault(job, step, "reached a join without being a branch of a split")
        return Arrive(step.name, 1 if isinstance(step, Discriminator) else None)

    def _check_merge(self, job: JobRecord, step: Step, wf: Workflow, datas: list[Any]) -> None:
        """Warn when the default merge undoes a branch's write: once, in a join's first firings.

        The merge is the contract's (each branch's whole dict in turn), so the job goes
        on; but a branch's change lost to a later branch's unchanged copy is nearly
        always a join that needed a ``merge``. A runner checks the first
        ``MERGE_CHECKS`` times each join fires, so that a long run does not pay for it.
        """
        where = (wf.name, wf.version, step.name)
        self._merge_checks[where] = self._merge_checks.get(where, MERGE_CHECKS) - 1
        try:
            lost = reverted_keys(job.data, datas)
        except Exception:  # a value whose == raises: nothing to say of it here
            return
        if lost:
            self._merge_checks[where] = 0
            logger.warning(
                "join %r of workflow %r v%d: the default merge put back the value at the split "
                "of %s, which an earlier branch changed (each branch carries a copy of the "
                "data, and the default merge updates the parent with each whole branch in "
                "turn); give the join merge=actors.merge_changes to keep every branch's "
                "changes, or a merge of your own (said once per join by each runner)",
                step.name,
                wf.name,
                wf.version,
                ", ".join(repr(key) for key in lost[:10]) + (" ..." if len(lost) > 10 else ""),
                extra=job_log(job),
            )

    def simple_merge(self, job: JobRecord, step: SimpleMerge, wf: Workflow) -> Effect | None:
        """Go on to ``next``."""
        goto(job, step.next)
        return None

    def wait(self, job: JobRecord, step: Wait, wf: Workflow) -> Effect | None:
        """Park for the duration; go on once its timer released the job."""
        if job.event is not None and job.event[0] == "timer":
            goto(job, step.next)
            return None
        if job.event is not None:  # sent by hand to the wrong job: a Wait takes no event
            ignore_stray_event(job, step)
        try:
            duration = step.duration(job.data) if callable(step.duration) else step.duration
        except BaseException as exc:
            if not user_error(exc):
                raise
            return fault(
                job, step, f"duration raised {describe(exc)}{self._returned_by(job, step)}"
            )
        problem = seconds_problem(duration)
        if problem is not None:  # never a timer: nan or a century would stop every timer
            return fault(job, step, f"duration returned {problem}")
        return Park(max(float(duration), 0.0))

    def request(self, job: JobRecord, step: RequestReaction, wf: Workflow) -> Effect | None:
        """Send the request (parked first); apply the reply, fault reply or timeout."""
        if job.event is None:
            # The data was stored (and checked) after the step before: the copy cannot fail.
            park = Park(step.timeout, correlations_for(job, step))
            return Request(park, step.send, copy_data(job.data, self.codec), job.context())
        kind, _, payload = job.event
        if kind == "timer":
            return timed_out(job, step, step.on_timeout, f"no reply within {step.timeout}s")
        handler = step.on_reply if kind == "reply" else step.on_fault
        if kind == "fault" and step.on_fault is None and step.fault_next is None:
            return fault(job, step, f"fault reply: {payload!r}")
        if handler is not None:
            failed = _handle(job, step, f"{kind} handler", handler, payload)
            if failed is not None:
                return failed
        goto(job, step.next if kind == "reply" else step.fault_next)
        return None

    def deferred(self, job: JobRecord, step: DeferredChoice, wf: Workflow) -> Effect | None:
        """Wait for the first of the events (or the timeout); go where it leads."""
        if job.event is None:
            return Park(step.timeout, correlations_for(job, step))
        kind, name, payload = job.event
        if kind == "timer":
            return timed_out(job, step, step.on_timeout, f"no event within {step.timeout}s")
        target: str | None
        if kind != "fault":
            handler, what, target = step.on_event, "on_event", step.events[name]
        elif step.on_fault is None and step.fault_next is None:
            return fault(job, step, f"fault event {name!r}: {payload!r}")
        else:
            handler, what, target = step.on_fault, "on_fault", step.fault_next
        if handler is not None:
            failed = _handle(job, step, what, handler, name, payload)
            if failed is not None:
                return failed
        goto(job, target)
        return None


Interpreter.KINDS.update(
    {
        Sequential: Interpreter.sequential,
        ExclusiveChoice: Interpreter.choice,
        ParallelSplit: Interpreter.split,
        Synchronize: Interpreter.join,
        Discriminator: Interpreter.join,
        SimpleMerge: Interpreter.simple_merge,
        Wait: Interpreter.wait,
        RequestReaction: Interpreter.request,
        DeferredChoice: Interpreter.deferred,
    }
)
