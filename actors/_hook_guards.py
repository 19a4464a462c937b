"""A user's metrics hook and tracer, held so that their mistakes never stop a case.

The engine calls the hook from runners, producers and the Scheduler, between steps of
its own bookkeeping. A hook that raised there stopped a runner before it noted its job
(the case waited for ever) or the Scheduler itself (every case): it is documented never
to raise, but a counter's typo or an exporter that is down must not cost a case. Each
call's exception is logged (the first of each method with its traceback, then counted)
and dropped. A tracer's span that cannot start or end is the same: the step runs, and
its own outcome (a fault, a cancel) is what counts, not the tracer's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal

from actors._engine import job_log, logger
from actors._errors import user_error

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from actors._job import JobRecord, JobState
    from actors.metrics import Metrics
    from actors.tracing import Tracer

__all__ = ["METHODS", "GuardedMetrics", "GuardedTracer", "guarded", "guarded_tracer"]

METHODS = ("admitted", "shed", "started", "finished", "step")
"""What a metrics hook must have (``actors.metrics.Metrics``)."""


def guarded(hook: Any) -> GuardedMetrics | None:
    """``hook`` guarded (``None`` stays ``None``); ``TypeError`` if a method is missing."""
    if hook is None:
        return None
    if isinstance(hook, type):  # its methods would be called unbound, each call failing
        msg = f"metrics must be an instance, got the class {hook.__name__}: give {hook.__name__}()"
        raise TypeError(msg)
    missing = [name for name in METHODS if not callable(getattr(hook, name, None))]
    if missing:
        msg = (
            f"metrics must have the methods of actors.metrics.Metrics; "
            f"{type(hook).__name__} has no {', '.join(missing)}"
        )
        raise TypeError(msg)
    return GuardedMetrics(hook)


class _Failures:
    """Counts a hook's failures by method; logs the first of each, with its traceback."""

    def __init__(self, whose: str) -> None:
        self.whose = whose  # how a failure's log line names the hook
        self.counts: dict[str, int] = {}  # method -> calls that raised
        self._lock = threading.Lock()

    def __call__(self, method: str, exc: BaseException) -> None:
        with self._lock:
            count = self.counts[method] = self.counts.get(method, 0) + 1
        if count == 1:
            logger.warning(
                "%s %s() raised; the engine goes on without it (later "
                "failures of %s() are counted, not logged)",
                self.whose,
                method,
                method,
                exc_info=exc,
                extra=job_log(None),
            )


class GuardedMetrics:
    """Calls ``hook``'s methods; logs and drops what they raise."""

    def __init__(self, hook: Metrics) -> None:
        self.hook = hook
        self._failed = _Failures("the metrics hook's")

    def admitted(self, workflow: str, queue_depth: int) -> None:
        """``hook.admitted``, guarded."""
        self._call("admitted", self.hook.admitted, workflow, queue_depth)

    def shed(self, workflow: str) -> None:
        """``hook.shed``, guarded."""
        self._call("shed", self.hook.shed, workflow)

    def started(self, workflow: str) -> None:
        """``hook.started``, guarded."""
        self._call("started", self.hook.started, workflow)

    def finished(self, workflow: str, state: JobState) -> None:
        """``hook.finished``, guarded."""
        self._call("finished", self.hook.finished, workflow, state)

    def step(self, workflow: str, step: str, seconds: float) -> None:
        """``hook.step``, guarded."""
        self._call("step", self.hook.step, workflow, step, seconds)

    def _call(self, method: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:
            if not user_error(exc):
                raise
            self._failed(method, exc)


def guarded_tracer(tracer: Any) -> GuardedTracer | None:
    """``tracer`` guarded (``None`` stays ``None``); ``TypeError`` if it has no ``step``."""
    if tracer is None:
        return None
    if not callable(getattr(tracer, "step", None)):
        msg = (
            "tracer must have the step(job, name) method of actors.tracing.Tracer; "
            f"{type(tracer).__name__} has none"
        )
        raise TypeError(msg)
    return GuardedTracer(tracer)


class GuardedTracer:
    """``tracer``'s spans; one that cannot start or end is logged and let go."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self.failed = _Failures("the tracer's")

    def step(self, job: JobRecord, step: str) -> _Span:
        """A span around ``step`` of ``job``, as the tracer makes it, or none."""
        return _Span(self, job, step)


class _Span:
    __slots__ = ("_inner", "_job", "_owner", "_step")

    def __init__(self, owner: GuardedTracer, job: JobRecord, step: str) -> None:
        self._owner, self._job, self._step = owner, job, step
        self._inner: Any = None

    def __enter__(self) -> None:
        try:
            inner = self._owner.tracer.step(self._job, self._step)
            inner.__enter__()
        except BaseException as exc:
            if not user_error(exc):
                raise
            self._owner.failed("step", exc)
            return
        self._inner = inner

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        if self._inner is not None:
            try:
                self._inner.__exit__(kind, error, traceback)
            except BaseException as exc:
                if not user_error(exc):
                    raise
                self._owner.failed("step", exc)
        return False  # what the step raised goes on: the engine handles it, not the tracer
