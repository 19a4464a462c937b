"""``JobHandle``: the caller's view of a scheduled case; ``CaseHandles``: the engine's side."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from typing import TYPE_CHECKING, Any

import pykka

from actors._delivering import delivering
from actors._errors import CodecError
from actors._fork import lock_across_forks, refuse_in_fork
from actors._runtime import LatchFuture
from actors.messages import CaseFinished, CaseUnfinished
from actors.stores._codec import DEFAULT_CODEC

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._engine import EngineConfig
    from actors._job import Job

__all__ = ["CaseHandles", "JobHandle", "owned"]

# Guards adding and removing wakers (rare: only wait() does); the Scheduler reads a
# handle's wakers without it, as a tuple replaced whole, so ending a case never waits.
_wakers_lock = lock_across_forks(threading.Lock())


class JobHandle:
    """Resolves to the final ``Job`` snapshot of a case's root once every thread ended."""

    __slots__ = ("__weakref__", "_engine", "_future", "_settled", "_wakers", "job_id", "workflow")

    def __init__(
        self,
        job_id: str,
        workflow: str,
        future: pykka.Future[Any],
        engine: EngineConfig | None = None,
    ) -> None:
        self.job_id = job_id
        """The root job's id (also the case id)."""
        self.workflow = workflow
        """The workflow's name."""
        self._future = future
        self._engine = engine  # whose Scheduler resolves the future
        self._settled = False  # set once the future is, before the wakers are called
        self._wakers: tuple[Callable[[], None], ...] = ()

    def result(self, timeout: float | None = None) -> Job:
        """The final snapshot (DONE, FAULTED, CANCELLED or SHED), its data the caller's own.

        Each call returns a new copy of the data: changing it changes nothing in the
        engine, its store or another call's result.

        Raises ``TimeoutError`` if the case has not ended within ``timeout`` seconds
        (``None`` or infinity: no bound; a negative number: no wait; ``TypeError`` for
        what is no number, ``ValueError`` for NaN), ``EngineStoppedError`` if the Mediator
        stopped before it ended, and on a shared store ``LeaseLostError`` if another
        worker took the case over (this one was frozen, or cut off from the store,
        longer than its lease). Called on that
        Mediator's Scheduler thread (an ``on_shed`` or metrics hook runs there) before
        the case has ended, it raises ``RuntimeError``: that thread ends the case, and
        would be waiting for itself. So it does when called from a task (or ``send``,
        ``merge``) of the very case it waits for: the case cannot end while that task
        runs; and from a task of that Mediator when every one of its runners is inside a
        task waiting for its cases (or for an admission slot), so that none is left to
        run them.
        """
        _check_timeout("JobHandle.result()", timeout)
        self._refuse_waiting_for_itself("JobHandle.result()")
        engine = self._engine
        if (
            engine is not None
            and delivering.engine is engine
            and not self._settled
            and isinstance(self._future, LatchFuture)  # threads: the harness drives its own
        ):
            return engine.task_waits.wait(engine, self, timeout, delivering.runner._scheduler)
        return self._result(timeout)

    def _refuse_waiting_for_itself(self, call: str) -> None:
        """Raise where waiting for this unfinished case would never end.

        ``RuntimeError`` on the thread that would end it; ``EngineStoppedError`` in a
        process forked after its Mediator was made (nothing there runs it).
        """
        engine = self._engine
        if engine is not None and not self._settled:
            refuse_in_fork(engine.pid, call)
        if engine is not None and (
            delivering.scheduler is engine
            or (delivering.engine is engine and delivering.runner.running_case() == self.job_id)
        ):
            with contextlib.suppress(TimeoutError):
                self._result(0)  # ended already: answered, as anywhere
                return
            what = f"{call} of the unfinished case {self.job_id!r}"
            if delivering.scheduler is not engine:
                msg = (
                    f"{what} was called from a task of that very case, which cannot end "
                    "while the task waits for it"
                )
                raise RuntimeError(msg)
            # Here, not at the top: actors._shutdown imports actors._engine, which
            # imports this module.
            from actors._shutdown import refuse_on_scheduler

            refuse_on_scheduler(engine, what)

    async def wait(self, timeout: float | None = None) -> Job:
        """Await the final snapshot from a coroutine, without blocking the event loop.

        The awaitable form of ``result()``, for asyncio applications: nothing blocks and
        no thread is held while the case runs, so any number of requests may wait at
        once. Raises what ``result()`` raises: ``TimeoutError`` if the case has not ended
        within ``timeout`` seconds, ``EngineStoppedError`` if the Mediator stopped before
        it ended, ``LeaseLostError`` if another worker took it over. Cancelling the
        awaiting task stops the wait and leaves the case running. Under the
        deterministic harness (``actors.testing``) it drives the run as ``result()``
        does. Its data is the caller's own, as ``result()``'s.
        """
        _check_timeout("JobHandle.wait()", timeout)
        self._refuse_waiting_for_itself("JobHandle.wait()")
        if not isinstance(self._future, LatchFuture):
            # Another runtime's future (the deterministic harness's) makes progress
            # only while get() drives the run: awaiting a wake-up would wait for ever.
            return self._result(timeout)
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:  # on the thread that ends the case: hand over to the loop
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(_set_woken, woken)

        with _wakers_lock:
            self._wakers = (*self._wakers, wake)
        try:
            # Checked after the waker was added: a case ending in between either sees
            # the waker or has set _settled already, so the wake-up is never missed.
            if not self._settled:
                try:
                    await asyncio.wait_for(woken, timeout)
                except TimeoutError:
                    raise self._timed_out(timeout) from None
        finally:
            with _wakers_lock:
                self._wakers = tuple(w for w in self._wakers if w is not wake)
        return self._result(0)

    def _settle(self, job: Job | None, error: BaseException | None = None) -> None:
        """Resolve the handle with ``job`` (or ``error``) and wake every ``wait()``."""
        if error is None:
            self._future.set(job)
        else:
            self._future.set_exception((type(error), error, None))
        self._settled = True
        for wake in self._wakers:
            wake()

    def _result(self, timeout: float | None) -> Job:
        try:
            job: Job = self._future.get(timeout=timeout)
        except pykka.Timeout:
            raise self._timed_out(timeout) from None
        return owned(job, self._engine)

    def _timed_out(self, timeout: float | None) -> TimeoutError:
        return TimeoutError(f"job {self.job_id} ({self.workflow}) did not finish within {timeout}s")

    def __repr__(self) -> str:
        return f"JobHandle({self.job_id!r}, workflow={self.workflow!r})"


def _check_timeout(call: str, timeout: Any) -> None:
    """Refuse a ``timeout`` that bounds no wait, naming ``call``.

    What is no number (a str read from the environment) raised a ``TypeError`` from
    pykka's comparison, ``True`` waited a second, and a NaN timed ``result()`` out at once
    but made ``wait()`` wait for ever. A negative number stays a wait of nothing (a
    deadline already past), and a huge one no bound.
    """
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        kind = type(timeout).__name__
        msg = f"{call} timeout must be a number of seconds or None, got {kind} {timeout!r:.40}"
        raise TypeError(msg)
    if math.isnan(timeout):
        msg = f"{call} timeout must be a number of seconds or None, got nan"
        raise ValueError(msg)


def owned(job: Job, engine: EngineConfig | None) -> Job:
    """``job`` with a copy of its data, made with ``engine``'s store's codec: the caller's own.

    The engine's record of a case's end (which a memory store may hold too) is never
    handed out. A job faulted for data no store can keep is returned as it is: a copy
    would have to run the value's own hooks.
    """
    codec = engine.store.codec if engine is not None else DEFAULT_CODEC
    try:
        data = codec.copy(job.data)
    except CodecError:
        return job
    # Positional, in Job's field order (as JobRecord.snapshot): dataclasses.replace
    # would cost more than the copy.
    return type(job)(
        job.id,
        job.workflow,
        job.version,
        job.step,
        data,
        job.state,
        job.case_id,
        job.parent_id,
        job.branch_index,
        job.attempt,
        job.error,
    )


def _set_woken(woken: asyncio.Future[None]) -> None:
    """On the loop's thread: end a ``wait()`` that is still waiting (not cancelled)."""
    if not woken.done():
        woken.set_result(None)


class CaseHandles:
    """Who to tell when a case ends: its handle, and an actor that asked.

    Producers add entries (admission, on their own threads) and the Scheduler resolves
    them. Thread-safe without a lock: every method is made of single dict operations,
    each atomic on its own, so producers and the Scheduler never contend. An entry is
    dropped when its case ends, so finished cases are not retained.
    """

    def __init__(self) -> None:
        self._handles: dict[str, JobHandle] = {}
        self._reply_to: dict[str, pykka.ActorRef[Any]] = {}

    def watch(self, case_id: str, handle: JobHandle, reply_to: Any = None) -> bool:
        """Remember who to tell when case ``case_id`` ends.

        ``False`` (and nothing changed) if another handle watches that id already: a
        case of that id is being admitted or running here. One ``setdefault`` decides,
        so of two producers admitting one id at once exactly one gets it.
        """
        if self._handles.setdefault(case_id, handle) is not handle:
            return False
        if reply_to is not None:
            self._reply_to[case_id] = reply_to
        return True

    def unwatch(self, case_id: str, handle: JobHandle) -> None:
        """Forget ``handle``'s case, whose admission was refused (another's entry stays)."""
        if self._handles.get(case_id) is handle:
            self._reply_to.pop(case_id, None)
            self._handles.pop(case_id, None)

    def resolve(self, job: Job) -> None:
        """The case ``job`` is the root of has ended: resolve its handle, tell its actor."""
        handle = self._handles.pop(job.case_id, None)
        reply_to = self._reply_to.pop(job.case_id, None)
        if handle is not None:
            handle._settle(job)
        if reply_to is not None:
            # Not asked is_alive() first: the actor may stop between that and the tell,
            # and the ActorDeadError then stopped the Scheduler, and every case with it.
            engine = handle._engine if handle is not None else None
            with contextlib.suppress(pykka.ActorDeadError):
                reply_to.tell(CaseFinished(owned(job, engine)))

    def fail_case(self, case_id: str, error: BaseException) -> bool:
        """Resolve the handle of case ``case_id`` with ``error`` (this worker lost the case)."""
        handle = self._handles.pop(case_id, None)
        _tell_unfinished(self._reply_to.pop(case_id, None), case_id, error)
        if handle is None:
            return False
        handle._settle(None, error)
        return True

    def fail_all(self, error: BaseException) -> int:
        """Resolve every handle still waiting with ``error`` (the engine stopped)."""
        handles = [self._handles.pop(k, None) for k in list(self._handles)]
        for case_id in list(self._reply_to):
            _tell_unfinished(self._reply_to.pop(case_id, None), case_id, error)
        for handle in handles:
            if handle is not None:
                handle._settle(None, error)
        return len(handles)


def _tell_unfinished(
    reply_to: pykka.ActorRef[Any] | None, case_id: str, error: BaseException
) -> None:
    """Tell ``reply_to`` (if any) that this engine will not see ``case_id`` end."""
    if reply_to is not None:
        with contextlib.suppress(pykka.ActorDeadError):  # as in resolve()
            reply_to.tell(CaseUnfinished(case_id, error))
