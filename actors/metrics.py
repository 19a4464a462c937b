"""Metrics hooks: counters and timings the engine reports as it runs.

Pass an object with these methods as ``Mediator(metrics=...)``. The engine calls them
from its own threads (producers, the Scheduler and the Runners), so they must be cheap
and thread-safe; with no hook set the engine skips the calls and the step timing.
``CountingMetrics`` keeps totals in memory; ``PrometheusMetrics`` exports them through
``prometheus_client`` (install the ``prometheus`` extra).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Protocol

from actors._job import JobState

__all__ = ["CountingMetrics", "Metrics", "PrometheusMetrics"]


class Metrics(Protocol):
    """What the engine reports. Every method must return quickly.

    An exception a method raises is logged and dropped (the engine goes on).
    """

    def admitted(self, workflow: str, queue_depth: int) -> None:
        """A case was admitted; ``queue_depth`` is the admission queue's length after it."""

    def shed(self, workflow: str) -> None:
        """A queued case was evicted under ``DROP_OLDEST``."""

    def started(self, workflow: str) -> None:
        """A runner took a job (a new case, a branch, or a job released by a timer/event)."""

    def finished(self, workflow: str, state: JobState) -> None:
        """A job (root or branch) reached a final state."""

    def step(self, workflow: str, step: str, seconds: float) -> None:
        """A step ran for ``seconds`` (its task and the save after it)."""


class CountingMetrics:
    """Keeps every count and the total step time in memory (handy in tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.step_seconds: dict[str, float] = {}
        self.peak_queue_depth = 0

    def admitted(self, workflow: str, queue_depth: int) -> None:
        """Count an admission and track the deepest queue."""
        with self._lock:
            self.counts["admitted"] += 1
            self.peak_queue_depth = max(self.peak_queue_depth, queue_depth)

    def shed(self, workflow: str) -> None:
        """Count a shed case."""
        with self._lock:
            self.counts["shed"] += 1

    def started(self, workflow: str) -> None:
        """Count a job start."""
        with self._lock:
            self.counts["started"] += 1

    def finished(self, workflow: str, state: JobState) -> None:
        """Count a final state."""
        with self._lock:
            self.counts[state.value] += 1

    def step(self, workflow: str, step: str, seconds: float) -> None:
        """Count a step and add its time."""
        with self._lock:
            self.counts["steps"] += 1
            key = f"{workflow}.{step}"
            self.step_seconds[key] = self.step_seconds.get(key, 0.0) + seconds


class PrometheusMetrics:
    """Exports the engine's metrics with ``prometheus_client`` (the ``prometheus`` extra).

    Metrics: ``actors_admitted_total``, ``actors_shed_total``, ``actors_started_total``,
    ``actors_finished_total{state}``, ``actors_queue_depth`` and
    ``actors_step_seconds{workflow,step}``, all labelled by workflow.
    """

    def __init__(self, registry: Any = None, prefix: str = "actors") -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:  # pragma: no cover - depends on the environment
            msg = "PrometheusMetrics needs prometheus_client: install actors-mediator[prometheus]"
            raise ImportError(msg) from exc
        kw: dict[str, Any] = {} if registry is None else {"registry": registry}
        self._admitted = prom.Counter(f"{prefix}_admitted", "Cases admitted", ["workflow"], **kw)
        self._shed = prom.Counter(
            f"{prefix}_shed", "Cases shed from a full mailbox", ["workflow"], **kw
        )
        self._started = prom.Counter(
            f"{prefix}_started", "Jobs started by a runner", ["workflow"], **kw
        )
        self._finished = prom.Counter(
            f"{prefix}_finished", "Jobs that reached a final state", ["workflow", "state"], **kw
        )
        self._depth = prom.Gauge(f"{prefix}_queue_depth", "Admitted, not yet started cases", **kw)
        self._steps = prom.Histogram(
            f"{prefix}_step_seconds", "Step run time", ["workflow", "step"], **kw
        )

    def admitted(self, workflow: str, queue_depth: int) -> None:
        """Count an admission and set the queue depth gauge."""
        self._admitted.labels(workflow).inc()
        self._depth.set(queue_depth)

    def shed(self, workflow: str) -> None:
        """Count a shed case."""
        self._shed.labels(workflow).inc()

    def started(self, workflow: str) -> None:
        """Count a job start."""
        self._started.labels(workflow).inc()

    def finished(self, workflow: str, state: JobState) -> None:
        """Count a final state."""
        self._finished.labels(workflow, state.value).inc()

    def step(self, workflow: str, step: str, seconds: float) -> None:
        """Observe a step's run time."""
        self._steps.labels(workflow, step).observe(seconds)
