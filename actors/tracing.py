"""Optional OpenTelemetry spans: a trace per case, a span per step.

Pass ``Mediator(tracer=OpenTelemetryTracer())``; it joins the application's
``TracerProvider`` (the global one unless given). Every step a runner runs becomes a span
named ``"{workflow}.{step}"`` with the job id, case id, parent job, branch index and
attempt as attributes, ending with an error status when the step faulted. All spans of a
case share one trace, whose id is derived from the case id, so a case that moves between
runners, processes or workers after a crash still reads as one trace. Needs the
``opentelemetry`` extra (``opentelemetry-api``; an SDK to export).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actors._job import JobRecord

__all__ = ["OpenTelemetryTracer", "Tracer"]


class Tracer(Protocol):
    """What the engine calls around each step it runs (on runner threads)."""

    def step(self, job: JobRecord, step: str) -> contextlib.AbstractContextManager[Any]:
        """A context manager entered just before the step runs and left just after."""


class OpenTelemetryTracer:
    """Spans per step, grouped in one trace per case (see the module docstring)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:  # pragma: no cover - depends on the environment
            msg = "OpenTelemetryTracer needs opentelemetry-api: actors-mediator[opentelemetry]"
            raise ImportError(msg) from exc
        self._trace = trace
        self._tracer = trace.get_tracer("actors", tracer_provider=tracer_provider)

    def _case_context(self, case_id: str) -> Any:
        trace = self._trace
        digest = hashlib.sha256(case_id.encode()).digest()
        parent = trace.SpanContext(
            trace_id=int.from_bytes(digest[:16], "big") or 1,
            span_id=int.from_bytes(digest[16:24], "big") or 1,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(parent))

    @contextlib.contextmanager
    def step(self, job: JobRecord, step: str) -> Iterator[Any]:
        """A span around one step of ``job``."""
        attributes: dict[str, Any] = {
            "actors.job_id": job.id,
            "actors.case_id": job.case_id,
            "actors.workflow": job.workflow,
            "actors.step": step,
            "actors.attempt": job.attempt,
        }
        if job.parent_id is not None:
            attributes["actors.parent_id"] = job.parent_id
            attributes["actors.branch_index"] = job.branch_index or 0
        with self._tracer.start_as_current_span(
            f"{job.workflow}.{step}",
            context=self._case_context(job.case_id),
            attributes=attributes,
        ) as span:
            yield span
            if job.error is not None and job.state.value == "faulted":
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, job.error))
