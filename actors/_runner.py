"""The Runner actor: a single-threaded pump that runs one job's steps at a time.

A runner runs a job from its current step until the job parks (timer or event),
splits, reaches a join, or ends, saving the job after every step. Then it tells the
Scheduler what happened and pulls its next job from the work channel; when the channel
is empty the runner parks as idle until the Scheduler hands it a job.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._copy import copy_data
from actors._engine import job_log, logger
from actors._errors import (
    CodecError,
    JobNotFoundError,
    LeaseLostError,
    UnknownWorkflowError,
)
from actors._job import JobRecord, JobState
from actors._redact import mask_secrets
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
    from types import TracebackType

    from actors._engine import EngineConfig
    from actors._leases import LeaseGuard
    from actors._workflow import Workflow
    from actors.stores import Store

__all__ = [
    "Runner",
    "back_to_saved_data",
    "correlations_for",
    "default_merge",
    "parent_missing",
]

# A step handler returns None to go on to the job's next step, or the messages that end
# the slice (the job parked, split, joined or ended) for the loop to send.
_Outcome = list[Any] | None


def correlations_for(job: JobRecord, step: Step) -> tuple[tuple[str, str], ...]:
    """The (correlation id, event name) pairs a job parked at ``step`` waits on."""
    if isinstance(step, RequestReaction):
        return ((f"{job.id}/{step.name}", ""),)
    if isinstance(step, DeferredChoice):
        return tuple((f"{job.id}/{step.name}/{name}", name) for name in step.events)
    return ()


def default_merge(parent: Any, branches: list[Any]) -> Any:
    """Update the parent dict with each branch's dict, in branch order."""
    if not isinstance(parent, dict) or not all(isinstance(b, dict) for b in branches):
        msg = "the default merge needs dict data; give the join a merge= function"
        raise TypeError(msg)
    for branch in branches:
        parent.update(branch)
    return parent


def back_to_saved_data(store: Store, job: JobRecord, exc: BaseException) -> str:
    """Give ``job`` its last saved data back (``exc``: why newer data could not be stored).

    Returns the reason to fault it with. Used by a runner, and by the Scheduler when a
    store committing on a writer thread reports the failure after the runner moved on.
    """
    saved = store.load(job.id)
    if saved is not None:
        job.data = saved.data
    job.event = None
    return f"step {job.step!r}: data cannot be stored: {exc}"


def parent_missing(job: JobRecord) -> str:
    """Why a branch faults when its join finds no row of the split's parent."""
    return f"its split's parent job {job.parent_id!r} is missing from the store"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Runner(pykka.Actor):
    """Runs jobs handed to it by the Scheduler, one at a time, one step after another."""

    def __init__(
        self,
        engine: EngineConfig,
        index: int,
        scheduler: pykka.ActorRef[Any],
        leases: LeaseGuard,
    ) -> None:
        super().__init__()
        self._e = engine
        self._leases = leases  # the Scheduler's: whether it vouches for a case's lease
        self._index = index
        self._scheduler = scheduler
        self._kinds: dict[type, Callable[[JobRecord, Any, Workflow], _Outcome]] = {
            Sequential: self._sequential,
            ExclusiveChoice: self._choice,
            ParallelSplit: self._split,
            Synchronize: self._join,
            Discriminator: self._join,
            SimpleMerge: self._simple_merge,
            Wait: self._wait,
            RequestReaction: self._request,
            DeferredChoice: self._deferred,
        }

    def on_start(self) -> None:
        """Pull a first job (or park as idle)."""
        self._current: JobRecord | None = None
        self._ran: str | None = None
        job = self._pull()
        if job is not None:
            self.actor_ref.tell(m.RunJob(job))

    def _pull(self, finished: JobRecord | None = None) -> JobRecord | None:
        channel = self._e.channel
        job = channel.take(self._index, finished)
        if job is None and channel.drain_requested:  # a draining shutdown waits for idle
            self._scheduler.tell(m.RunnerIdle(self._index))
        return job

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Report the crash; the Scheduler restarts this runner and resumes its job."""
        with contextlib.suppress(pykka.ActorDeadError):  # the engine is stopping anyway
            self._scheduler.tell(m.RunnerFailed(self._index, self._current))

    def on_receive(self, message: Any) -> Any:
        """Run the job in a ``RunJob`` message."""
        if not isinstance(message, m.RunJob):
            return super().on_receive(message)
        job: JobRecord | None = message.job
        budget = self._e.runner_batch
        while job is not None:
            if self._e.metrics is not None:
                self._e.metrics.started(job.workflow)
            self._current = job
            try:
                outcome = self._slice(job)
            except LeaseLostError as exc:
                outcome = self._lost(job, exc)
            self._current = None
            try:
                self._e.channel.sent[self._index] += len(outcome)
                for msg in outcome:
                    self._scheduler.tell(msg)
            except pykka.ActorDeadError:
                return None  # the engine stopped under us; the job's last save stands
            if self._e.stop.requested:
                self._e.channel.done(job, self._index)
                return None
            budget -= 1
            job = self._pull(job)
            if job is not None and budget <= 0:
                # Yield to the inbox (a stop, or the harness choosing what runs next);
                # the job already taken comes back as the next message.
                self.actor_ref.tell(m.RunJob(job))
                return None
        return None

    # -- the step loop ----------------------------------------------------------------------

    def _slice(self, job: JobRecord) -> list[Any]:
        """Run ``job`` until it leaves this runner; its saves are stored when this returns.

        So what the Scheduler will hear about is stored first (a store that groups a
        slice's saves commits them in ``end_slice``).
        """
        store = self._e.store
        store.begin_slice()
        self._ran = None
        try:
            outcome = self._run(job)
        except CodecError as exc:
            store.end_slice()  # the saves before the one that could not be encoded
            return self._unstorable(job, exc)
        if store.background_commit:
            # The store's writer thread sends the reports once the slice is stored; one
            # report is counted for them now, so the Scheduler's backlog shows the slice.
            self._e.channel.sent[self._index] += 1
            store.end_slice(functools.partial(self._stored, job, outcome))
            return []
        store.end_slice()
        return outcome

    def _stored(self, job: JobRecord, outcome: list[Any], error: BaseException | None) -> None:
        """On the store's writer thread: a slice handed over was stored (or not); report it."""
        if isinstance(error, LeaseLostError):
            self._log_lost(job, error)
            outcome = [m.CaseLost(self._index, job, error)]
        elif error is not None:
            outcome = [m.SliceUnsaved(self._index, job, error)]
        channel = self._e.channel
        channel.sent[-1] += len(outcome) - 1  # the writer's slot: one was counted
        with contextlib.suppress(pykka.ActorDeadError):  # the engine stopped meanwhile
            for msg in outcome:
                self._scheduler.tell(msg)
            if not outcome and channel.drain_requested:
                # The backlog shrank with no report to show it: a draining shutdown
                # would otherwise wait for a message that never comes.
                self._scheduler.tell(m.RunnerIdle(self._index))

    def _run(self, job: JobRecord) -> list[Any]:
        try:
            wf = self._e.workflow(job.workflow, job.version)
        except UnknownWorkflowError as exc:
            return self._finish(job, JobState.FAULTED, str(exc))
        store = self._e.store
        metrics = self._e.metrics
        tracer = self._e.tracer
        steps = wf.steps
        kinds: dict[type, Callable[[JobRecord, Any, Workflow], _Outcome]] = self._kinds
        engine = self._e
        leases, stop = self._leases, engine.stop
        # The harness's fault point: called before each step. Set on the harness's runtime
        # once, before anything is delivered; none in production.
        step_hook = getattr(engine.runtime, "step_hook", None)
        while True:
            if job.cancel_requested:
                return self._finish(job, JobState.CANCELLED, job.error or "cancelled")
            if stop.requested:  # a non-draining shutdown
                return []  # saved after its last step; resumes from there on the next start
            if leases.vouch and not leases.may_run(job):
                # This worker cannot vouch that it still holds the case: no step starts.
                return [m.LeaseUnvouched(self._index, job)]
            step = steps.get(job.step or "")
            if step is None:
                why = f"workflow {wf.name!r} v{wf.version} has no step {job.step!r}"
                return self._finish(job, JobState.FAULTED, why)
            if step_hook is not None:
                step_hook(self._index, job, step)
            self._ran = step.name  # the step whose data the next save stores
            if tracer is not None:
                with tracer.step(job, step.name):
                    outcome = kinds[type(step)](job, step, wf)
            elif metrics is None:
                outcome = kinds[type(step)](job, step, wf)
            else:
                began = time.perf_counter()
                outcome = kinds[type(step)](job, step, wf)
                metrics.step(wf.name, step.name, time.perf_counter() - began)
            if outcome is not None:
                return outcome
            if job.step is None:
                job.step = step.name  # a final job reports the step it ended at
                return self._finish(job, JobState.DONE, job.error)
            store.save(job)

    def _finish(self, job: JobRecord, state: JobState, error: str | None) -> list[Any]:
        job.state = state
        # A task's exception may quote a URL with its password: the error is stored,
        # logged, shown by `jobs show` and put on spans, so it is masked once, here.
        job.error = mask_secrets(error) if error is not None else None
        self._e.store.save(job)
        if state is JobState.FAULTED:
            logger.warning(
                "job %s faulted at step %r: %s",
                job.id,
                job.step,
                error,
                extra=job_log(job),
            )
        return [m.JobEnded(self._index, job)]

    def _lost(self, job: JobRecord, exc: LeaseLostError) -> list[Any]:
        """A save was fenced: another worker holds the case now. Stop; tell the Scheduler.

        Nothing of this slice was written (the fenced transaction rolled back), and the
        runner stays alive: the job is simply no longer this worker's to run.
        """
        with contextlib.suppress(LeaseLostError):
            self._e.store.end_slice()  # whatever the slice still groups is fenced too
        self._log_lost(job, exc)
        return [m.CaseLost(self._index, job, exc)]

    def _log_lost(self, job: JobRecord, exc: LeaseLostError) -> None:
        logger.warning(
            "job %s: case %s was taken over by worker %r; this worker stops running it",
            job.id,
            exc.case_id,
            exc.owner,
            extra=job_log(job),
        )

    def _unstorable(self, job: JobRecord, exc: CodecError) -> list[Any]:
        """A step left data the store cannot keep: fault the job at *that* step.

        The job ends at the step that put the value there (not the one it would have
        gone on to), with its last saved data and the path of the bad value.
        """
        if self._ran is not None:
            job.step = self._ran
        return self._finish(job, JobState.FAULTED, back_to_saved_data(self._e.store, job, exc))

    def _fault(self, job: JobRecord, step: Step, why: str) -> list[Any]:
        job.step = step.name
        return self._finish(job, JobState.FAULTED, f"step {step.name!r}: {why}")

    def _goto(self, job: JobRecord, target: str | None) -> None:
        job.step = target
        job.attempt = 1
        job.event = None

    def _call(self, job: JobRecord, wf: Workflow, fn: Any, step: Step) -> None:
        result = fn(job.data, job.context()) if step.name in wf.context_steps else fn(job.data)
        if result is not None:
            job.data = result

    def _park(
        self, job: JobRecord, due: float | None, corr: tuple[tuple[str, str], ...]
    ) -> list[Any]:
        job.state = JobState.WAITING
        job.due = due
        self._e.store.save(job)
        return [m.JobParked(self._index, job, corr)]

    # -- one handler per step kind -------------------------------------------------------------

    def _sequential(self, job: JobRecord, step: Sequential, wf: Workflow) -> _Outcome:
        job.event = None  # a retry timer's release carries nothing to apply
        # _call and _goto inlined: this is the step nearly every job runs most.
        try:
            if step.name in wf.context_steps:
                result = step.task(job.data, job.context())
            else:
                result = step.task(job.data)
            if result is not None:
                job.data = result
        except Exception as exc:
            retry = step.retry
            if retry is not None and job.attempt < retry.attempts and isinstance(exc, retry.on):
                delay = retry.delay(job.attempt)
                job.attempt += 1
                logger.info(
                    "job %s step %r failed (%s); attempt %d in %.3fs",
                    job.id,
                    step.name,
                    _describe(exc),
                    job.attempt,
                    delay,
                    extra=job_log(job),
                )
                if delay > 0:
                    return self._park(job, self._e.clock.now() + delay, ())
                return None  # saved by the loop, then the same step runs again
            if not step.has_fault_path:
                return self._fault(job, step, f"{_describe(exc)} (attempt {job.attempt})")
            if step.on_fault is not None:
                try:
                    result = step.on_fault(job.data, exc)
                except Exception as handler_exc:
                    why = f"on_fault raised {_describe(handler_exc)} handling {_describe(exc)}"
                    return self._fault(job, step, why)
                if result is not None:
                    job.data = result
            self._goto(job, step.fault_next)
            return None
        job.step = step.next
        job.attempt = 1
        return None

    def _choice(self, job: JobRecord, step: ExclusiveChoice, wf: Workflow) -> _Outcome:
        try:
            holds = bool(step.spec(job.data))
        except Exception as exc:
            return self._fault(job, step, f"spec raised {_describe(exc)}")
        self._goto(job, step.if_true if holds else step.if_false)
        return None

    def _split(self, job: JobRecord, step: ParallelSplit, wf: Workflow) -> _Outcome:
        try:
            codec = self._e.store.codec
            if callable(step.branches):
                items = list(step.branches(job.data))
                assert step.each is not None
                starts = [
                    (step.each, copy_data(item, codec, f"branch item {i}"))
                    for i, item in enumerate(items)
                ]
            else:
                starts = [(name, copy_data(job.data, codec)) for name in step.branches]
        except CodecError as exc:
            return self._fault(job, step, f"data cannot be stored: {exc}")
        except Exception as exc:
            return self._fault(job, step, f"could not make the branches: {_describe(exc)}")
        if not starts:
            return self._fault(job, step, "the branches function returned no instances")
        job.gen += 1
        job.state = JobState.WAITING
        job.split_step = step.name
        job.split_total = len(starts)
        job.arrivals = {}
        job.join_step = None
        job.joined = False
        job.branch_error = None
        job.branch_cancelled = False
        new_id, make = self._e.new_id, JobRecord.branch
        case, name, version, parent, gen = job.case_id, job.workflow, job.version, job.id, job.gen
        branches = [
            make(new_id(), case, name, version, start, data, parent, i, gen)
            for i, (start, data) in enumerate(starts)
        ]
        self._e.store.save_split(job, branches)
        return [
            m.SpawnBranch(branch, parent=job if i == 0 else None)
            for i, branch in enumerate(branches)
        ]

    def _join(self, job: JobRecord, step: Synchronize | Discriminator, wf: Workflow) -> _Outcome:
        if job.event is not None and job.event[0] == "join":
            # The parent, released by its branches: merge their datas and go on.
            datas = [job.arrivals[i] for i in sorted(job.arrivals)]
            try:
                merged = (step.merge or default_merge)(job.data, datas)
            except Exception as exc:
                return self._fault(job, step, f"merge raised {_describe(exc)}")
            if merged is not None:
                job.data = merged
            job.arrivals = {}
            job.split_total = 0
            self._goto(job, step.next)
            return None
        if job.parent_id is None:
            return self._fault(job, step, "reached a join without being a branch of a split")
        assert job.branch_index is not None
        # Count the arrival in the store first, then end the branch: if the process dies
        # in between, the branch reruns this step and the store ignores the repeat, so
        # no arrival is lost or counted twice.
        try:
            self._e.store.record_arrival(
                job.parent_id,
                job.parent_gen,
                job.branch_index,
                job.data,
                join_step=step.name,
                needed=1 if isinstance(step, Discriminator) else None,
            )
        except JobNotFoundError:
            # Running the branch again would reach the same missing row: it ends here.
            return self._fault(job, step, parent_missing(job))
        job.step = step.name
        job.state = JobState.DONE
        self._e.store.save(job)
        return [m.BranchArrived(self._index, job, step.name)]

    def _simple_merge(self, job: JobRecord, step: SimpleMerge, wf: Workflow) -> _Outcome:
        self._goto(job, step.next)
        return None

    def _wait(self, job: JobRecord, step: Wait, wf: Workflow) -> _Outcome:
        if job.event is not None and job.event[0] == "timer":
            self._goto(job, step.next)
            return None
        try:
            duration = float(step.duration(job.data) if callable(step.duration) else step.duration)
        except Exception as exc:
            return self._fault(job, step, f"duration raised {_describe(exc)}")
        return self._park(job, self._e.clock.now() + max(duration, 0.0), ())

    def _request(self, job: JobRecord, step: RequestReaction, wf: Workflow) -> _Outcome:
        if job.event is None:
            return self._send(job, step, wf)
        kind, _, payload = job.event
        if kind == "timer":
            if step.on_timeout is None:
                return self._fault(job, step, f"no reply within {step.timeout}s")
            self._goto(job, step.on_timeout)
            return None
        handler = step.on_reply if kind == "reply" else step.on_fault
        if kind == "fault" and step.on_fault is None and step.fault_next is None:
            return self._fault(job, step, f"fault reply: {payload!r}")
        if handler is not None:
            try:
                result = handler(job.data, payload)
            except Exception as exc:
                return self._fault(job, step, f"{kind} handler raised {_describe(exc)}")
            if result is not None:
                job.data = result
        self._goto(job, step.next if kind == "reply" else step.fault_next)
        return None

    def _send(self, job: JobRecord, step: RequestReaction, wf: Workflow) -> _Outcome:
        due = None if step.timeout is None else self._e.clock.now() + step.timeout
        corr = correlations_for(job, step)
        ctx = job.context()
        # The job may resume elsewhere while send() runs. Its data was stored (and
        # checked) after the step before, so the copy cannot fail.
        data = copy_data(job.data, self._e.store.codec)
        # Park first: the Scheduler learns the correlation id before any reply can reach
        # it, so a synchronous responder's reply is applied exactly once.
        parked = self._park(job, due, corr)
        self._e.store.end_slice()  # stored before the Scheduler hears of it
        self._e.channel.done(job, self._index)
        self._e.channel.sent[self._index] += 1
        self._scheduler.tell(parked[0])
        try:
            step.send(data, ctx)
        except Exception as exc:  # a failed send is a fault reply
            return [m.JobSendFailed(corr[0][0], _describe(exc))]
        return []

    def _deferred(self, job: JobRecord, step: DeferredChoice, wf: Workflow) -> _Outcome:
        if job.event is None:
            due = None if step.timeout is None else self._e.clock.now() + step.timeout
            return self._park(job, due, correlations_for(job, step))
        kind, name, payload = job.event
        if kind == "timer":
            if step.on_timeout is None:
                return self._fault(job, step, f"no event within {step.timeout}s")
            self._goto(job, step.on_timeout)
            return None
        if kind == "fault":
            return self._fault(job, step, f"fault event {name!r}: {payload!r}")
        if step.on_event is not None:
            try:
                result = step.on_event(job.data, name, payload)
            except Exception as exc:
                return self._fault(job, step, f"on_event raised {_describe(exc)}")
            if result is not None:
                job.data = result
        self._goto(job, step.events[name])
        return None
