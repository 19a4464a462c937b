"""The Runner actor: a single-threaded pump that runs one job's steps at a time.

A runner runs a job from its current step until the job parks (timer or event),
splits, reaches a join, or ends, saving the job after every step. Then it tells the
Scheduler what happened and pulls its next job from the work channel; when the channel
is empty the runner parks as idle until the Scheduler hands it a job.

What each step means is the step interpreter's (``actors._interpreter``); the effect
that ends a slice (end, park, split, arrive, request) is carried out by its ``SliceEnd``
(``actors._slice_end``) against the clock, the store and the Scheduler.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import pykka

from actors import messages as m
from actors._engine import delivering, job_log, log_level, logger
from actors._errors import (
    CodecError,
    LeaseLostError,
    StepCutShort,
    StoreError,
    UnknownWorkflowError,
    user_error,
)
from actors._interpreter import Interpreter, correlations_for
from actors._job import JobState
from actors._merges import default_merge
from actors._outage import store_down
from actors._runner_failures import case_lost, count_try, died_of
from actors._runner_stop import stop_asked, stop_engine_from_outside
from actors._runner_stored import report_stored
from actors._runtime import lane_of, when_stop_is_put
from actors._slice_end import SliceEnd
from actors._step_ends import finished, missing_step

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from actors._engine import EngineConfig
    from actors._job import JobRecord
    from actors._leases import LeaseGuard
    from actors._steps import Step
    from actors._workflow import Workflow

__all__ = ["Runner", "correlations_for", "default_merge"]


_NO_TASKS: dict[str | None, Any] = {}


class Runner(pykka.Actor):
    """Runs jobs handed to it by the Scheduler, one at a time, one step after another.

    A job's record is this runner's from the moment the work channel hands it over until
    the runner reports on it (parked, split, arrived, ended, handed back): only then does
    the Scheduler touch it again. So a cancel of a running job is a message (``StopJob``),
    which reaches the runner in its inbox's lane between two steps.
    """

    urgent_messages: ClassVar[frozenset[type]] = frozenset({m.StopJob})
    """Told messages the runtime puts in the inbox's lane (see ``LanedInbox``)."""

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
        self._steps = Interpreter(engine.store.codec, lambda: engine.gate.closed, self._cancel)
        self._end = SliceEnd(engine, index, scheduler, self._last_look)  # what ends a slice
        # Per workflow: (workflow, its steps, its inline tasks), looked up once, not per
        # slice (an engine's workflows never change).
        self._plans: dict[tuple[str, int], tuple[Workflow, Mapping[str, Step], Any]] = {}
        when_stop_is_put(
            self, functools.partial(stop_engine_from_outside, engine, index, scheduler)
        )

    def on_start(self) -> None:
        """Pull a first job (or park as idle)."""
        self._current: JobRecord | None = None
        self._ran: str | None = None
        # Under a runtime whose inbox has no lane, a stop arrives as a plain message after
        # the slice; the Scheduler then marks the job when the runner reports on it.
        lane = lane_of(self)
        self._lane: deque[Any] = deque() if lane is None else lane
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
        level = log_level(exception_value)
        with contextlib.suppress(pykka.ActorDeadError):  # the engine is stopping anyway
            error = "" if exception_value is None else died_of(exception_value)
            blames = getattr(exception_value, "blames_job", True) is not False
            down = exception_value if store_down(exception_value) else None
            self._scheduler.tell(
                m.RunnerFailed(self._index, self._current, level, error, blames, down)
            )

    def quiet_failure(self, error: BaseException | None) -> bool:
        """Whether pykka leaves this failure unlogged: the store down, a worker's outage.

        Its Scheduler tells the outage once at WARNING; an ERROR with a traceback for each
        runner whose save failed would repeat it (``on_failure`` reports it at DEBUG).
        """
        return store_down(error)

    def on_receive(self, message: Any) -> Any:
        """Run the job in a ``RunJob`` message."""
        if not isinstance(message, m.RunJob):
            if isinstance(message, m.StopJob):
                return None  # its job left this runner already (no lane to read it sooner)
            return super().on_receive(message)
        outer, outer_runner = delivering.engine, delivering.runner
        delivering.engine, delivering.runner = self._e, self
        try:
            return self._run_jobs(message.job)
        finally:
            # The harness nests deliveries on one thread.
            delivering.engine, delivering.runner = outer, outer_runner

    def _run_jobs(self, job: JobRecord | None) -> None:
        """Run ``job``, then the jobs the channel hands over, up to ``runner_batch``."""
        budget = self._e.runner_batch
        while job is not None:
            if self._e.metrics is not None:
                self._e.metrics.started(job.workflow)
            self._current = job
            try:
                outcome = self._slice(job)
            except LeaseLostError as exc:
                outcome = case_lost(self._e.store, self._index, job, exc)
            except StoreError as exc:
                if not self._e.stop.requested:
                    raise  # the Scheduler resumes the job from its last stored save
                # A shutdown that did not wait for this step has closed the store.
                logger.warning(
                    "job %s: the engine stopped while it ran; its last step is not saved "
                    "(%s), so the job goes on from its last stored save on the next start",
                    job.id,
                    exc,
                    extra=job_log(job),
                )
                return
            self._current = None
            channel = self._e.channel
            channel.sent[self._index] += len(outcome)
            # Before the reports: then it may run again. A report is on its way after it,
            # so a case lost meanwhile can be back before it comes: StaleCopies knows it.
            channel.done(job, self._index)
            try:
                for msg in outcome:
                    self._scheduler.tell(msg)
            except pykka.ActorDeadError:
                return  # the engine stopped under us; the job's last save stands
            if self._e.stop.requested:
                return
            budget -= 1
            job = self._pull()
            if job is not None and budget <= 0:
                # Yield to the inbox (a stop, or the harness choosing what runs next);
                # the job already taken comes back as the next message.
                self.actor_ref.tell(m.RunJob(job))
                return

    # -- the step loop ----------------------------------------------------------------------

    def _slice(self, job: JobRecord) -> list[Any]:
        """Run ``job`` until it leaves this runner; its saves are stored when this returns.

        So what the Scheduler will hear about is stored first (a store that groups a
        slice's saves commits them in ``end_slice``).
        """
        store = self._e.store
        alone = job.solo and not job.taken_over  # its slices were refused: _unsaved_slices
        if alone:
            job.solo = False  # this run only: the Scheduler says if the next is alone too
            store.begin_slice(alone=True)
        else:
            store.begin_slice()
        self._ran = None
        counted = job.solo or alone  # stored before it ends: a suspect's try, or alone
        try:
            outcome = self._run(job)
        except CodecError as exc:
            store.end_slice()  # the saves before the one that could not be encoded
            return self._end.unstorable(job, self._ran, exc)
        except StepCutShort as cut:
            store.end_slice()  # the steps before it stand
            logger.info(
                "job %s: step %r stopped as the engine shuts down (%s); it runs again on the "
                "next start",
                job.id,
                cut.args[0],
                cut.__cause__,
                extra=job_log(job),
            )
            return []  # nothing to report: the job stays as last saved, for the next start
        if store.background_commit and not counted:
            # The store's writer thread sends the reports once the slice is stored (the
            # records are its to hand over from here); one report is counted for them
            # now, so the Scheduler's backlog shows the slice.
            self._e.channel.sent[self._index] += 1
            key = self._e.channel.handed_over(job, self._index)  # before the writer may report
            store.end_slice(
                functools.partial(
                    report_stored, self._e.channel, self._scheduler, self._index, job, outcome, key
                )
            )
            return []
        # Stored before it returns: with a writer thread too for a suspect's try or a slice
        # alone, as the work channel then starts the jobs it held back (_watched_jobs, _try_batch).
        return self._end.stored(job, outcome, alone=alone)

    def _run(self, job: JobRecord) -> list[Any]:  # noqa: PLR0911, PLR0912, PLR0915 - one hot loop
        key = (job.workflow, job.version)
        plan = self._plans.get(key)
        if plan is None:
            try:
                wf = self._e.workflow(job.workflow, job.version)
            except UnknownWorkflowError as exc:
                return self._end.finish(job, JobState.FAULTED, str(exc))
            plan = self._plans[key] = (wf, wf.steps, self._steps.plain_tasks(wf))
        wf, steps, plain = plan
        store = self._e.store
        tried = job.solo  # a suspect's try lasts one step: its first save stored at once
        if job.taken_over:  # its last holder stopped: count this try first, durably
            why = count_try(self._e, job, lambda: self._scheduler.tell(m.Admitted()))
            if why is not None:
                return self._end.finish(job, JobState.FAULTED, why)
        metrics = self._e.metrics
        tracer = self._e.tracer
        kinds, steps_of = self._steps.KINDS, self._steps
        engine = self._e
        lane = self._lane
        leases, stop = self._leases, engine.stop
        # The harness's fault point: called before each step. Set on the harness's runtime
        # once, before anything is delivered; none in production.
        step_hook = getattr(engine.runtime, "step_hook", None)
        # Sequential steps with a data-only task run inline below (what the interpreter's
        # ``sequential`` does, without its dispatch), unless a tracer or metrics time
        # every step; the checks between two steps and the harness's hook are the same.
        if tracer is not None or metrics is not None:
            plain = _NO_TASKS
        while True:
            if job.cancel_requested:  # marked before the Scheduler handed it over
                return self._end.finish(job, JobState.CANCELLED, job.error or "cancelled")
            if lane and (why := stop_asked(job, lane)) is not None:
                return self._end.finish(job, JobState.CANCELLED, why)
            if stop.requested:  # a non-draining shutdown
                # Saved after its last step, it resumes from there on the next start; saved
                # READY, not RUNNING, so no listing shows it running on a stopped worker.
                if job.state is JobState.RUNNING and not stop.keep_store:
                    job.state = JobState.READY
                    with contextlib.suppress(StoreError):  # the lease lost, the store closed
                        store.save(job)
                return []
            if leases.vouch and not leases.may_run(job):
                # This worker cannot vouch that it still holds the case: no step starts.
                return [m.LeaseUnvouched(self._index, job)]
            task = plain.get(job.step)
            step = steps.get(job.step or "") if task is None else task[0]
            if step is None:
                return self._end.apply(job, None, missing_step(job, wf))
            # The harness's choice point: other actors may run meanwhile. True: a stop
            # came then and the runner reads it before the step; False: none came, or it
            # came once the check above was past (as it can with threads), so the step
            # runs and the runner reads the stop after it.
            if (
                step_hook is not None
                and step_hook(self._index, job, step)
                and (why := stop_asked(job, lane)) is not None
            ):
                return self._end.finish(job, JobState.CANCELLED, why)
            if task is not None:
                chained, run, after = task
                self._ran = chained.name
                job.event = None  # a retry timer's release carries nothing to apply
                try:
                    result = run(job.data)
                except BaseException as exc:
                    if not user_error(exc):
                        raise
                    effect = self._steps.failed(job, chained, exc)
                    if effect is not None:
                        return self._end.apply(job, chained, effect)
                else:
                    if result is not None:
                        job.data = result
                        if type(result) is not dict:  # named if a later step fails on it
                            self._steps.returned = (job.id, chained, result)
                    job.step = after
                    if job.attempt != 1:  # a retry that succeeded: its last failure is over
                        job.attempt = 1
                        job.error = None
                if job.step is None:
                    return self._finished(job, chained)
                store.save(job)  # looked up each time: the harness wraps it mid-slice
                if tried:
                    tried = self._try_saved(job)
                continue
            self._ran = step.name  # the step whose data the next save stores
            # A slice's last step is carried out inside its span and timing, as its saves
            # and faults are part of it.
            if tracer is not None:
                with tracer.step(job, step.name):
                    effect = kinds[type(step)](steps_of, job, step, wf)
                    if effect is not None:
                        return self._end.apply(job, step, effect)
            elif metrics is None:
                effect = kinds[type(step)](steps_of, job, step, wf)
                if effect is not None:
                    return self._end.apply(job, step, effect)
            else:
                began = time.perf_counter()
                effect = kinds[type(step)](steps_of, job, step, wf)
                ended = None if effect is None else self._end.apply(job, step, effect)
                metrics.step(wf.name, step.name, time.perf_counter() - began)
                if ended is not None:
                    return ended
            if job.step is None:
                return self._finished(job, step)
            store.save(job)
            if tried:
                tried = self._try_saved(job)

    def _finished(self, job: JobRecord, step: Step) -> list[Any]:
        """``job``'s last step returned: DONE, or CANCELLED if cancelled as it ran.

        As after any other step (it ended DONE, with the cancel's reason as its error).
        """
        why = self._last_look(job)
        if why is not None:
            job.step = step.name
            return self._end.finish(job, JobState.CANCELLED, why)
        return self._end.apply(job, step, finished(job, step))

    def _try_saved(self, job: JobRecord) -> bool:
        """The first save of a counted try: store it now, and let others run beside it.

        Its count starts again at this save, so a death from here on is not the job's
        try: only the step that ran before it is. Stored at once rather than with the
        slice (``commit="slice"`` or ``"group"``), which may run many more steps, so the
        try (and a solo job's turn alone, which holds the worker's other jobs back) lasts
        one step. Returns ``False``: the try is over.
        """
        store = self._e.store
        store.end_slice()
        store.begin_slice()
        if self._e.channel.tried(job.id):  # it held the worker's other jobs back
            with contextlib.suppress(pykka.ActorDeadError):
                self._scheduler.tell(m.Admitted())  # hand them to the idle runners
        return False

    def running_case(self) -> str | None:
        """The case of the job this runner runs now (a task waiting for it is refused)."""
        return None if self._current is None else self._current.case_id

    def _last_look(self, job: JobRecord) -> str | None:
        """``_cancel`` as the slice ends ``job``, entered in ``last_look`` first (see there)."""
        self._e.channel.last_look[job.id] = job
        return self._cancel(job)

    def _cancel(self, job: JobRecord) -> str | None:
        """Why ``job`` was cancelled, if it was (asked before or while its step ran)."""
        if job.cancel_requested:
            return job.error or "cancelled"
        return stop_asked(job, self._lane) if self._lane else None
