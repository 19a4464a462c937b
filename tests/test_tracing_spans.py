"""What docs/how-to/observe.md promises of ``OpenTelemetryTracer``'s spans.

A span carries the job id, case id, parent job, branch index and attempt; a case's trace
id is derived from its case id, so a case resumed by another ``Mediator`` after a stop
still reads as one trace.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from flows import setter

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    Retry,
    Sequential,
    StepContext,
    Synchronize,
    Wait,
    Workflow,
)
from actors.testing import VirtualClock

sdk = pytest.importorskip("opentelemetry.sdk.trace")


def _tracer() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from actors.tracing import OpenTelemetryTracer

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OpenTelemetryTracer(provider), exporter


def test_a_span_names_its_job_case_parent_branch_and_attempt() -> None:
    def flaky(data: dict[str, Any], ctx: StepContext) -> None:
        if ctx.attempt == 1:
            raise ConnectionError("busy")

    flow = Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", setter("x"), next="join"),
            Sequential("y", flaky, next="join", retry=Retry(attempts=2, backoff=0)),
            Synchronize("join"),
        ],
        start="split",
    )
    tracer, exporter = _tracer()
    with Mediator([flow], runners=2, tracer=tracer) as m:
        case = m.schedule("fan", {}, job_id="case-1").result(timeout=TIMEOUT)
    assert case.state is JobState.DONE
    spans = exporter.get_finished_spans()
    (split,) = [s for s in spans if s.name == "fan.split"]
    assert dict(split.attributes) == {
        "actors.job_id": "case-1",
        "actors.case_id": "case-1",
        "actors.workflow": "fan",
        "actors.step": "split",
        "actors.attempt": 1,
    }  # a root job has no parent and no branch index
    (x,) = [s for s in spans if s.name == "fan.x"]
    assert x.attributes["actors.case_id"] == "case-1"
    assert x.attributes["actors.parent_id"] == "case-1"
    assert x.attributes["actors.branch_index"] == 0
    assert x.attributes["actors.job_id"] != "case-1"
    tries = [s for s in spans if s.name == "fan.y"]
    assert [s.attributes["actors.attempt"] for s in tries] == [1, 2]
    assert {s.attributes["actors.branch_index"] for s in tries} == {1}


def test_a_case_resumed_by_another_mediator_stays_in_one_trace(tmp_path: Path) -> None:
    flow = Workflow(
        "nap",
        [
            Sequential("before", setter("before"), next="rest"),
            Wait("rest", 3600, next="after"),
            Sequential("after", setter("after")),
        ],
        start="before",
    )
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    traces: dict[str, set[int]] = {}
    steps: list[list[str]] = []
    for clock in (None, VirtualClock(start=time.time() + 7200)):  # then the nap is over
        tracer, exporter = _tracer()  # a provider of its own, as in another process
        with Mediator([flow], tracer=tracer, clock=clock, store=url, owner="w") as m:
            if clock is None:
                m.schedule("nap", {}, job_id="order-7")
                wait_until(lambda: m.get_job("order-7").state is JobState.WAITING, "the nap")
            else:
                wait_until(lambda: m.get_job("order-7").state is JobState.DONE, "the resume")
            m.schedule("nap", {}, job_id=f"other-{clock is None}")  # runs "before", naps
        steps.append([])
        for span in exporter.get_finished_spans():
            case_id = span.attributes["actors.case_id"]
            traces.setdefault(case_id, set()).add(span.context.trace_id)
            steps[-1] += [span.name] if case_id == "order-7" else []
    assert steps[0][0] == "nap.before" and steps[1][-1] == "nap.after"  # spans in each
    assert [len(ids) for ids in traces.values()] == [1, 1, 1]  # one trace per case
    assert len(set.union(*traces.values())) == 3  # and a trace of its own
