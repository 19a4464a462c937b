"""A user's metrics hook, held so that its mistakes never stop a case or the engine.

The engine calls the hook from runners, producers and the Scheduler, between steps of
its own bookkeeping. A hook that raised there stopped a runner before it noted its job
(the case waited for ever) or the Scheduler itself (every case): it is documented never
to raise, but a counter's typo or an exporter that is down must not cost a case. Each
call's exception is logged (the first of each method with its traceback, then counted)
and dropped.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from actors._engine import job_log, logger

if TYPE_CHECKING:
    from actors._job import JobState
    from actors.metrics import Metrics

__all__ = ["METHODS", "GuardedMetrics", "guarded"]

METHODS = ("admitted", "shed", "started", "finished", "step")
"""What a metrics hook must have (``actors.metrics.Metrics``)."""


def guarded(hook: Any) -> GuardedMetrics | None:
    """``hook`` guarded (``None`` stays ``None``); ``TypeError`` if a method is missing."""
    if hook is None:
        return None
    missing = [name for name in METHODS if not callable(getattr(hook, name, None))]
    if missing:
        msg = (
            f"metrics must have the methods of actors.metrics.Metrics; "
            f"{type(hook).__name__} has no {', '.join(missing)}"
        )
        raise TypeError(msg)
    return GuardedMetrics(hook)


class GuardedMetrics:
    """Calls ``hook``'s methods; logs and drops what they raise."""

    def __init__(self, hook: Metrics) -> None:
        self.hook = hook
        self.failures: dict[str, int] = {}  # method -> calls that raised
        self._lock = threading.Lock()

    def _failed(self, method: str, exc: Exception) -> None:
        with self._lock:
            count = self.failures[method] = self.failures.get(method, 0) + 1
        if count == 1:
            logger.warning(
                "the metrics hook's %s() raised; the engine goes on without it (later "
                "failures of %s() are counted, not logged)",
                method,
                method,
                exc_info=exc,
                extra=job_log(None),
            )

    def admitted(self, workflow: str, queue_depth: int) -> None:
        """``hook.admitted``, guarded."""
        try:
            self.hook.admitted(workflow, queue_depth)
        except Exception as exc:
            self._failed("admitted", exc)

    def shed(self, workflow: str) -> None:
        """``hook.shed``, guarded."""
        try:
            self.hook.shed(workflow)
        except Exception as exc:
            self._failed("shed", exc)

    def started(self, workflow: str) -> None:
        """``hook.started``, guarded."""
        try:
            self.hook.started(workflow)
        except Exception as exc:
            self._failed("started", exc)

    def finished(self, workflow: str, state: JobState) -> None:
        """``hook.finished``, guarded."""
        try:
            self.hook.finished(workflow, state)
        except Exception as exc:
            self._failed("finished", exc)

    def step(self, workflow: str, step: str, seconds: float) -> None:
        """``hook.step``, guarded."""
        try:
            self.hook.step(workflow, step, seconds)
        except Exception as exc:
            self._failed("step", exc)
