"""``JobHandle``: the caller's view of a scheduled case; ``CaseHandles``: the engine's side."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pykka

from actors._delivering import delivering
from actors.messages import CaseFinished, CaseUnfinished

if TYPE_CHECKING:
    from actors._engine import EngineConfig
    from actors._job import Job

__all__ = ["CaseHandles", "JobHandle"]


class JobHandle:
    """Resolves to the final ``Job`` snapshot of a case's root once every thread ended."""

    __slots__ = ("__weakref__", "_engine", "_future", "job_id", "workflow")

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

    def result(self, timeout: float | None = None) -> Job:
        """The final snapshot (DONE, FAULTED, CANCELLED or SHED).

        Raises ``TimeoutError`` if the case has not ended within ``timeout`` seconds, and
        ``EngineStoppedError`` if the Mediator stopped before it ended. Called on that
        Mediator's Scheduler thread (an ``on_shed`` or metrics hook runs there) before
        the case has ended, it raises ``RuntimeError``: that thread ends the case, and
        would be waiting for itself. So it does when called from a task (or ``send``,
        ``merge``) of the very case it waits for: the case cannot end while that task
        runs.
        """
        engine = self._engine
        if engine is not None and (
            delivering.scheduler is engine
            or (delivering.engine is engine and delivering.runner.running_case() == self.job_id)
        ):
            with contextlib.suppress(TimeoutError):
                return self._result(0)  # ended already: answered, as anywhere
            what = f"JobHandle.result() of the unfinished case {self.job_id!r}"
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
        return self._result(timeout)

    def _result(self, timeout: float | None) -> Job:
        try:
            job: Job = self._future.get(timeout=timeout)
        except pykka.Timeout:
            msg = f"job {self.job_id} ({self.workflow}) did not finish within {timeout}s"
            raise TimeoutError(msg) from None
        return job

    def __repr__(self) -> str:
        return f"JobHandle({self.job_id!r}, workflow={self.workflow!r})"


class CaseHandles:
    """Who to tell when a case ends: its handle's future, and an actor that asked.

    Producers add entries (admission, on their own threads) and the Scheduler resolves
    them. Thread-safe without a lock: every method is made of single dict operations,
    each atomic on its own, so producers and the Scheduler never contend. An entry is
    dropped when its case ends, so finished cases are not retained.
    """

    def __init__(self) -> None:
        self._futures: dict[str, pykka.Future[Any]] = {}
        self._reply_to: dict[str, pykka.ActorRef[Any]] = {}

    def watch(self, case_id: str, handle: JobHandle, reply_to: Any = None) -> bool:
        """Remember who to tell when case ``case_id`` ends.

        ``False`` (and nothing changed) if another handle watches that id already: a
        case of that id is being admitted or running here. One ``setdefault`` decides,
        so of two producers admitting one id at once exactly one gets it.
        """
        future = handle._future
        if self._futures.setdefault(case_id, future) is not future:
            return False
        if reply_to is not None:
            self._reply_to[case_id] = reply_to
        return True

    def unwatch(self, case_id: str, handle: JobHandle) -> None:
        """Forget ``handle``'s case, whose admission was refused (another's entry stays)."""
        if self._futures.get(case_id) is handle._future:
            self._reply_to.pop(case_id, None)
            self._futures.pop(case_id, None)

    def resolve(self, job: Job) -> None:
        """The case ``job`` is the root of has ended: resolve its handle, tell its actor."""
        future = self._futures.pop(job.case_id, None)
        reply_to = self._reply_to.pop(job.case_id, None)
        if future is not None:
            future.set(job)
        if reply_to is not None:
            # Not asked is_alive() first: the actor may stop between that and the tell,
            # and the ActorDeadError then stopped the Scheduler, and every case with it.
            with contextlib.suppress(pykka.ActorDeadError):
                reply_to.tell(CaseFinished(job))

    def fail_case(self, case_id: str, error: BaseException) -> bool:
        """Resolve the handle of case ``case_id`` with ``error`` (this worker lost the case)."""
        future = self._futures.pop(case_id, None)
        _tell_unfinished(self._reply_to.pop(case_id, None), case_id, error)
        if future is None:
            return False
        future.set_exception((type(error), error, None))
        return True

    def fail_all(self, error: BaseException) -> int:
        """Resolve every handle still waiting with ``error`` (the engine stopped)."""
        futures = [self._futures.pop(k, None) for k in list(self._futures)]
        for case_id in list(self._reply_to):
            _tell_unfinished(self._reply_to.pop(case_id, None), case_id, error)
        for future in futures:
            if future is not None:
                future.set_exception((type(error), error, None))
        return len(futures)


def _tell_unfinished(
    reply_to: pykka.ActorRef[Any] | None, case_id: str, error: BaseException
) -> None:
    """Tell ``reply_to`` (if any) that this engine will not see ``case_id`` end."""
    if reply_to is not None:
        with contextlib.suppress(pykka.ActorDeadError):  # as in resolve()
            reply_to.tell(CaseUnfinished(case_id, error))
