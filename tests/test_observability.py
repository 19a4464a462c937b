"""Logging context on every record, and the metrics hooks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from bounds import TIMEOUT
from flows import setter, workload_w
from records import record

from actors import FullMode, JobState, Mediator, Sequential, Workflow
from actors.metrics import CountingMetrics, PrometheusMetrics
from actors.stores import open_store


def test_counting_metrics_sees_every_event() -> None:
    metrics = CountingMetrics()
    with Mediator([workload_w()], runners=2, metrics=metrics) as m:
        for _ in range(3):
            m.schedule("w", {}).result(timeout=TIMEOUT)
    assert metrics.counts["admitted"] == 3
    assert metrics.counts["done"] == 15  # three cases of a root and four branches
    assert metrics.counts["started"] >= 15  # each job starts once, joins restart the root
    # 14 tasks, the split, four branch arrivals at the join and the parent's merge there
    assert metrics.counts["steps"] == 3 * 20
    assert metrics.step_seconds["w.A"] > 0


def test_prometheus_metrics_export() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    flow = Workflow("p", [Sequential("a", setter("a"))], start="a")
    with Mediator([flow], runners=1, metrics=PrometheusMetrics(registry)) as m:
        m.schedule("p", {}).result(timeout=TIMEOUT)
    value = registry.get_sample_value
    assert value("actors_admitted_total", {"workflow": "p"}) == 1
    assert value("actors_finished_total", {"workflow": "p", "state": "done"}) == 1
    assert value("actors_step_seconds_count", {"workflow": "p", "step": "a"}) == 1


def test_a_metrics_method_that_raises_is_logged_once_with_its_traceback_then_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """docs/how-to/observe.md: each method's first failure is a WARNING with its traceback.

    Later ones are not logged, and no case stops for any of them.
    """

    class Down(CountingMetrics):
        def step(self, workflow: str, step: str, seconds: float) -> None:
            raise ConnectionError("exporter down")

        def finished(self, workflow: str, state: JobState) -> None:
            raise SystemExit(3)

    flow = Workflow(
        "m", [Sequential("a", setter("a"), next="b"), Sequential("b", setter("b"))], "a"
    )
    metrics = Down()
    with caplog.at_level(logging.WARNING, logger="actors"), Mediator([flow], metrics=metrics) as m:
        jobs = [m.schedule("m", {}).result(timeout=TIMEOUT) for _ in range(3)]
    assert [job.state for job in jobs] == [JobState.DONE] * 3
    assert metrics.counts["started"] == 3  # the methods that work still count
    for method, error in (("step", ConnectionError), ("finished", SystemExit)):
        said = [r for r in caplog.records if f"metrics hook's {method}() raised" in r.getMessage()]
        # Once, of the six calls of step() and the three of finished() that raised.
        assert len(said) == 1, [r.getMessage() for r in caplog.records]
        assert said[0].levelno == logging.WARNING
        assert said[0].exc_info is not None and isinstance(said[0].exc_info[1], error)


def test_fault_log_record_carries_job_step_and_attempt(caplog: pytest.LogCaptureFixture) -> None:
    def boom(data: object) -> None:
        raise RuntimeError("no")

    flow = Workflow("f", [Sequential("a", boom)], start="a")
    with caplog.at_level(logging.WARNING, logger="actors"), Mediator([flow], runners=1) as m:
        job = m.schedule("f", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    (record,) = [r for r in caplog.records if "faulted" in r.getMessage()]
    assert (record.job_id, record.step, record.attempt) == (job.id, "a", 1)  # type: ignore[attr-defined]


def test_shed_is_logged_with_the_job(caplog: pytest.LogCaptureFixture) -> None:
    import threading

    entered, release = threading.Event(), threading.Event()

    def hold(data: object) -> None:
        entered.set()
        release.wait(TIMEOUT)

    flow = Workflow("h", [Sequential("a", hold)], start="a")
    mediator = Mediator([flow], runners=1, capacity=1, full_mode=FullMode.DROP_OLDEST)
    with caplog.at_level(logging.WARNING, logger="actors"), mediator as m:
        m.schedule("h", {})
        assert entered.wait(TIMEOUT)
        shed = m.schedule("h", {})
        m.schedule("h", {})
        assert shed.result(timeout=TIMEOUT).state is JobState.SHED
        release.set()
    (record,) = [r for r in caplog.records if "shed" in r.getMessage()]
    assert record.job_id == shed.job_id  # type: ignore[attr-defined]


def test_opentelemetry_spans_one_trace_per_case_one_span_per_step() -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from actors.tracing import OpenTelemetryTracer

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def boom(data: object) -> None:
        raise RuntimeError("no")

    bad = Workflow("bad", [Sequential("a", boom)], start="a")
    tracer = OpenTelemetryTracer(provider)
    with Mediator([workload_w(), bad], runners=2, tracer=tracer) as m:
        first = m.schedule("w", {}).result(timeout=TIMEOUT)
        second = m.schedule("w", {}).result(timeout=TIMEOUT)
        faulted = m.schedule("bad", {}).result(timeout=TIMEOUT)
    spans = exporter.get_finished_spans()
    by_case: dict[str, set[int]] = {}
    for span in spans:
        by_case.setdefault(span.attributes["actors.case_id"], set()).add(span.context.trace_id)
    assert {len(ids) for ids in by_case.values()} == {1}  # one trace per case
    assert len({next(iter(ids)) for ids in by_case.values()}) == 3  # a trace each
    names = [s.name for s in spans if s.attributes["actors.case_id"] == first.id]
    assert names.count("w.A") == 1 and names.count("w.B") == 1
    assert len(names) == 20  # 14 tasks, the split, 4 arrivals at the join, the merge
    assert second.id in by_case
    (failed,) = [s for s in spans if s.attributes["actors.case_id"] == faulted.id]
    assert failed.status.status_code.name == "ERROR"


def test_a_span_never_shows_a_password_a_task_s_error_quotes() -> None:
    """docs/how-to/durable-stores.md: such an error is put on its span masked."""
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from actors.tracing import OpenTelemetryTracer

    secret = "Span-Sentinel-Pw-41c7"
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def connect(data: object) -> None:
        raise ConnectionError(f"cannot reach postgresql://app:{secret}@db/app")

    flow = Workflow("connects", [Sequential("connect", connect)], start="connect")
    with Mediator([flow], tracer=OpenTelemetryTracer(provider)) as m:
        job = m.schedule("connects", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    assert "postgresql://app:***@db/app" in (span.status.description or "")
    assert secret not in span.to_json()  # status, attributes and events alike


def test_metric_labels_are_workflow_step_and_state_names_only() -> None:
    """No URL in a metric label, even of a job whose error quotes one (durable-stores guide)."""
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()

    def connect(data: object) -> None:
        raise ConnectionError("cannot reach postgresql://app:Metric-Pw-5d2e@db/app")

    flow = Workflow("connects", [Sequential("connect", connect)], start="connect")
    with Mediator([flow], runners=1, metrics=PrometheusMetrics(registry)) as m:
        assert m.schedule("connects", {}).result(timeout=TIMEOUT).state is JobState.FAULTED
    labels = [s.labels for metric in registry.collect() for s in metric.samples]
    assert labels  # the run was counted
    assert {name for found in labels for name in found} <= {"workflow", "step", "state", "le"}
    values = {value for found in labels for name, value in found.items() if name != "le"}
    assert values == {"connects", "connect", "faulted"}


# The format docs/how-to/observe.md configures: a record without the attributes breaks it.
GUIDE_FORMAT = "%(asctime)s %(levelname)s %(job_id)s %(step)s #%(attempt)s %(message)s"


def test_every_record_of_the_package_fits_the_guide_s_format(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Records about a job name it; the others carry ``None``, even a store's."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with caplog.at_level(logging.DEBUG, logger="actors"):
        store = open_store(url)  # a new store: its schema is created (a DEBUG line)
        try:
            store.create(record("bad", step="a"))
            store._conn().execute("UPDATE jobs SET data = '{oops' WHERE id = 'bad'")  # type: ignore[attr-defined]
            assert store.load("bad").state is JobState.FAULTED  # logged as an ERROR
        finally:
            store.close()
        with Mediator([Workflow("f", [Sequential("a", setter("a"))], start="a")]) as m:
            m.receive_event("nobody/nothing")  # not about any job: an INFO line
    records = [r for r in caplog.records if r.name.startswith("actors")]
    formatter = logging.Formatter(GUIDE_FORMAT)
    for r in records:
        formatter.format(r)  # raises ValueError naming a missing attribute
    (unreadable,) = [r for r in records if r.levelno == logging.ERROR]
    assert unreadable.name == "actors.stores"
    assert (unreadable.job_id, unreadable.step, unreadable.attempt) == ("bad", "a", 1)  # type: ignore[attr-defined]
    schema = [r for r in records if "schema" in r.getMessage()]
    assert schema and all(r.job_id is None for r in schema)  # type: ignore[attr-defined]


def test_stats_counts_ready_running_waiting_timers_faulted_and_cancelled() -> None:
    """docs/how-to/observe.md: each figure ``stats()`` returns, caught while non-zero."""
    from flows import Gate

    from actors import ParallelSplit, Synchronize, Wait

    gate = Gate()

    def boom(data: object) -> None:
        raise RuntimeError("no")

    flows = [
        Workflow(
            "fan",
            [
                ParallelSplit("s", branches=["x", "y", "z"]),
                Sequential("x", gate, next="j"),
                Sequential("y", setter("y"), next="j"),
                Sequential("z", setter("z"), next="j"),
                Synchronize("j"),
            ],
            "s",
        ),
        Workflow("nap", [Wait("w", 3600, next="a"), Sequential("a", setter("a"))], "w"),
        Workflow("bad", [Sequential("a", boom)], "a"),
    ]
    with Mediator(flows, runners=1) as m:
        assert m.schedule("bad", {}).result(timeout=TIMEOUT).state is JobState.FAULTED
        napping = m.schedule("nap", {})
        fan = m.schedule("fan", {})
        assert gate.entered.wait(TIMEOUT)  # the runner is in x: y and z wait their turn
        busy = m.stats()
        m.cancel(napping.job_id)
        gate.opened.set()
        assert fan.result(timeout=TIMEOUT).state is JobState.DONE
        after = m.stats()
    # x runs; y and z are ready; the nap and the split's parent wait, the nap on a timer.
    assert (busy.running, busy.ready, busy.waiting, busy.timers) == (1, 2, 2, 1)
    assert (after.faulted, after.cancelled, after.timers, after.admitted) == (1, 1, 0, 3)
