"""What an embedding application gets wrong costs it an error, never a case or the engine.

A metrics hook that raised stopped a runner before it noted its job (the case waited for
ever) or the Scheduler (every case, and handles of cases stored DONE said they never
ended); a cancel answered CANCELLED ended the job FAULTED when its step then raised; a
bad ``timeout`` to ``shutdown`` closed admission and then raised, leaving an engine no
call could stop; and several arguments of the wrong kind failed deep inside.
"""

from __future__ import annotations

import logging
import threading

import pykka
import pytest
from bounds import TIMEOUT
from flows import setter

from actors import (
    ExclusiveChoice,
    FullMode,
    JobState,
    Mediator,
    ParallelSplit,
    Retry,
    Sequential,
    Synchronize,
    Workflow,
)
from actors.metrics import CountingMetrics

FLOW = Workflow("w", [Sequential("a", setter("a"), next="b"), Sequential("b", setter("b"))], "a")
FAN = Workflow(
    "fan",
    [
        ParallelSplit("s", branches=["x", "y"]),
        Sequential("x", setter("x"), next="j"),
        Sequential("y", setter("y"), next="j"),
        Synchronize("j"),
    ],
    start="s",
)


class Broken(CountingMetrics):
    """Counts, and raises from one method."""

    def __init__(self, method: str) -> None:
        super().__init__()
        setattr(self, method, self._raise)

    @staticmethod
    def _raise(*args) -> None:
        msg = "exporter down"
        raise ConnectionError(msg)


@pytest.mark.parametrize("method", ["admitted", "shed", "started", "finished", "step"])
def test_a_metrics_hook_that_raises_costs_no_case(method, caplog):
    hook = Broken(method)
    with (
        caplog.at_level(logging.WARNING, logger="actors"),
        Mediator([FLOW, FAN], metrics=hook, capacity=2, full_mode=FullMode.DROP_OLDEST) as mediator,
    ):
        handles = [mediator.schedule(name, {}) for name in ("w", "fan", "w", "fan")]
        ended = [h.result(timeout=TIMEOUT).state for h in handles]
        later = mediator.schedule("w", {}).result(timeout=TIMEOUT)
    assert set(ended) <= {JobState.DONE, JobState.SHED} and JobState.DONE in ended
    assert later.state is JobState.DONE
    said = [r for r in caplog.records if f"the metrics hook's {method}() raised" in r.getMessage()]
    assert len(said) <= 1  # once, however often it raised (shed may not happen at all)


def test_a_metrics_hook_missing_a_method_is_refused_naming_it():
    class Half:
        def admitted(self, workflow, depth): ...

    with pytest.raises(TypeError, match=r"Half has no shed, started, finished, step"):
        Mediator([FLOW], metrics=Half())
    with pytest.raises(TypeError, match=r"got the class CountingMetrics: give CountingMetrics\(\)"):
        Mediator([FLOW], metrics=CountingMetrics)


def test_a_cancel_answered_while_the_step_runs_ends_the_job_cancelled_even_if_it_raises():
    started, go = threading.Event(), threading.Event()
    faulted_path = []

    def call(data):
        started.set()
        assert go.wait(TIMEOUT)
        raise ConnectionError("the call was cut off")

    flow = Workflow(
        "c",
        [
            Sequential("call", call, next="after", retry=Retry(attempts=3), fault_next="oops"),
            Sequential("after", setter("after")),
            Sequential("oops", faulted_path.append),
        ],
        start="call",
    )
    with Mediator([flow]) as mediator:
        handle = mediator.schedule("c", {})
        assert started.wait(TIMEOUT)
        assert mediator.cancel(handle.job_id).name == "CANCELLED"
        go.set()
        job = handle.result(timeout=TIMEOUT)
        stats = mediator.stats()
    assert (job.state, job.error) == (JobState.CANCELLED, "cancelled")
    assert (stats.cancelled, stats.faulted) == (1, 0) and faulted_path == []


@pytest.mark.parametrize("bad", ["5", float("nan"), -1, [1]])
def test_a_bad_shutdown_timeout_changes_nothing(bad):
    mediator = Mediator([FLOW])
    with pytest.raises((TypeError, ValueError), match="timeout must be a number of seconds"):
        mediator.shutdown(timeout=bad)
    assert mediator.schedule("w", {}).result(timeout=TIMEOUT).state is JobState.DONE  # still open
    assert mediator.shutdown(timeout=TIMEOUT) is True


def test_an_infinite_timeout_waits_as_none_does():
    with Mediator([FLOW], capacity=1) as mediator:
        assert mediator.schedule("w", {}, timeout=float("inf")).result(TIMEOUT).state is (
            JobState.DONE
        )
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
            mediator.schedule("w", {}, timeout="5")
        with pytest.raises(TypeError, match="timeout must be a number"):
            mediator.schedule_many("w", [{}], timeout="5")


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"store": 5}, "store must be a store URL"),
        ({"clock": 5}, "clock must have now() and alarm()"),
        ({"on_shed": 5}, "on_shed must be callable"),
    ],
)
def test_options_of_the_wrong_kind_are_refused_naming_them(options, said):
    with pytest.raises(TypeError, match=said.replace("(", r"\(").replace(")", r"\)")):
        Mediator([FLOW], **options)


def test_wrong_kinds_of_ids_are_refused():
    with Mediator([FLOW]) as mediator:
        with pytest.raises(TypeError, match="a correlation id is a str, got int"):
            mediator.receive_event(123)
        with pytest.raises(TypeError, match="job_ids must be a list of ids"):
            mediator.schedule_many("w", [{}, {}], job_ids="ab")
        assert mediator.stats().admitted == 0


@pytest.mark.parametrize("store", ["memory://", "sqlite"])
@pytest.mark.parametrize("job_id", [None, 17, b"order-17"])
def test_cancel_and_get_job_of_no_str_id_are_refused_naming_the_call(job_id, store, tmp_path):
    """An id that is no str is the caller's mistake, not a job the store lacks.

    A web handler's ``request.query_params.get("id")`` is None when the client left the
    id out: ``cancel()`` answered NOT_FOUND and ``get_job()`` "no job None", so the
    application answered 404 and its own mistake went unseen.
    """
    url = f"sqlite:///{tmp_path / 'ids.db'}" if store == "sqlite" else store
    with Mediator([FLOW], store=url) as mediator:
        kind = type(job_id).__name__
        with pytest.raises(
            TypeError, match=rf"^Mediator\.cancel\(job_id\) takes a str, got {kind}"
        ):
            mediator.cancel(job_id)
        with pytest.raises(
            TypeError, match=rf"^Mediator\.get_job\(job_id\) takes a str, got {kind}"
        ):
            mediator.get_job(job_id)


class _Span:
    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on

    def __enter__(self) -> None:
        if self.fail_on == "enter":
            raise RuntimeError("tracer backend down")

    def __exit__(self, *exc) -> None:
        if self.fail_on == "exit":
            raise RuntimeError("exporter failed on exit")


@pytest.mark.parametrize("fail_on", ["call", "enter", "exit"])
def test_a_tracer_that_raises_costs_no_case(fail_on, caplog):
    class Tracer:
        def step(self, job, name):
            if fail_on == "call":
                raise RuntimeError("no span today")
            return _Span(fail_on)

    ran: list[str] = []
    flow = Workflow(
        "t",
        [Sequential("a", lambda d: ran.append("a"), next="b"), Sequential("b", setter("b"))],
        "a",
    )
    with caplog.at_level(logging.WARNING, logger="actors"), Mediator([flow], tracer=Tracer()) as m:
        job = m.schedule("t", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.DONE and ran == ["a"]  # each step once
    said = [r for r in caplog.records if "the tracer's step() raised" in r.getMessage()]
    assert len(said) == 1


def test_a_tracer_without_step_and_an_owner_no_str_are_refused():
    with pytest.raises(TypeError, match="tracer must have the step"):
        Mediator([FLOW], tracer=5)
    with pytest.raises(TypeError, match="owner must be a worker's name"):
        Mediator([FLOW], owner=5)


def test_admin_lists_of_ids_and_correlation_ids_of_the_wrong_kind_are_refused():
    from actors.admin import Admin

    with Mediator([FLOW]) as mediator, Admin.for_mediator(mediator) as admin:
        with pytest.raises(TypeError, match="a correlation id is a str, got NoneType"):
            admin.send_event(None)
        with pytest.raises(TypeError, match="not one string"):
            admin.histories("s-1")
        with pytest.raises(TypeError, match="a job id is a str, got int 5"):
            admin.job_infos([5])


def test_sys_exit_in_a_task_or_a_hook_is_their_failure_not_the_end_of_every_actor(caplog):
    """``sys.exit()`` in a task (a command-line tool's ``main()`` it calls, say) or a hook.

    pykka took the ``SystemExit`` for a fatal error and stopped every actor of the
    process, the application's own included: the engine stopped with nothing logged,
    and the case, left READY, did it again at every start of every worker.
    """
    import sys

    import pykka

    class Till(pykka.ThreadingActor):
        def on_receive(self, message):
            return message

    def leave(data):
        sys.exit(3)

    class ExitingMetrics(CountingMetrics):
        def finished(self, workflow, state):
            sys.exit("from the metrics hook")

    till = Till.start()
    try:
        leaving = Workflow("leaves", [Sequential("a", leave)], "a")
        with Mediator([leaving, FLOW], metrics=ExitingMetrics()) as m:
            left = m.schedule("leaves", {}).result(timeout=TIMEOUT)
            fine = m.schedule("w", {}).result(timeout=TIMEOUT)
        assert left.state is JobState.FAULTED
        assert left.error == "step 'a': SystemExit: 3 (attempt 1)"
        assert fine.state is JobState.DONE
        assert till.ask("still here", timeout=TIMEOUT) == "still here"
        assert "the metrics hook's finished() raised" in caplog.text
    finally:
        till.stop()


def test_a_task_waiting_for_its_own_case_gets_an_error_and_another_case_s_result_works():
    handles = {}
    ready = threading.Event()  # its handle is in the dict

    def wait_on(data):
        assert ready.wait(TIMEOUT)
        handles[data["on"]].result(timeout=TIMEOUT)  # its own case: refused at once

    def other(data):
        data["other"] = handles["done"].result(timeout=TIMEOUT).state.value

    flows = [
        Workflow("own", [Sequential("wait", wait_on)], "wait"),
        Workflow("other", [Sequential("read", other)], "read"),
        FLOW,
    ]
    with Mediator(flows, runners=2) as mediator:
        handles["done"] = mediator.schedule("w", {})
        handles["done"].result(timeout=TIMEOUT)
        read = mediator.schedule("other", {})
        assert read.result(timeout=TIMEOUT).data["other"] == "done"  # an ended case answers
        handles["self"] = mediator.schedule("own", {"on": "self"}, job_id="self")
        ready.set()
        job = handles["self"].result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert "from a task of that very case" in job.error


def test_a_megabyte_exception_is_kept_cut_to_its_first_ten_thousand_characters(caplog, tmp_path):
    from actors._redact import ERROR_CHARS

    def huge(data):
        raise ValueError("x" * 1_000_000)

    flow = Workflow("huge", [Sequential("boom", huge, retry=Retry(attempts=2))], "boom")
    store = f"sqlite:///{tmp_path / 'e.db'}"
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([flow], store=store) as mediator:
        job = mediator.schedule("huge", {}).result(timeout=TIMEOUT)
        stored = mediator.store.load(job.id)
    assert job.state is JobState.FAULTED
    assert job.error.startswith("step 'boom': ValueError: xxx")
    whole = len("step 'boom': ValueError: ") + 1_000_000 + len(" (attempt 2)")
    assert job.error.endswith(f" ... [{whole - ERROR_CHARS:,} more characters]")
    assert len(job.error) < ERROR_CHARS + 40
    assert stored.error == job.error
    assert max(len(r.getMessage()) for r in caplog.records) < ERROR_CHARS + 200


def test_a_fault_s_log_line_carries_the_task_s_traceback_with_secrets_masked(caplog):
    def charge_card(data):
        raise ValueError("cannot reach postgresql://app:Tb-Secret-77@db/app")

    flow = Workflow("tb", [Sequential("charge", charge_card)], "charge")
    with caplog.at_level(logging.WARNING, logger="actors"), Mediator([flow]) as mediator:
        job = mediator.schedule("tb", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    [record] = [r for r in caplog.records if "faulted at step" in r.getMessage()]
    text = logging.Formatter().format(record)
    assert "Traceback (most recent call last)" in text and "in charge_card" in text
    assert "Tb-Secret-77" not in text and "app:***@db" in text


def _decide(data):
    raise KeyError("tier")


def _combine(parent, branches):
    raise TypeError("cannot merge")


def _flaky(data):
    raise ConnectionError("busy")


@pytest.mark.parametrize(
    ("flow", "where"),
    [
        (
            Workflow(
                "choose",
                [
                    ExclusiveChoice("pick", _decide, if_true="x", if_false="x"),
                    Sequential("x", setter("x")),
                ],
                "pick",
            ),
            "in _decide",
        ),
        (
            Workflow(
                "merge",
                [
                    ParallelSplit("s", branches=["x", "y"]),
                    Sequential("x", setter("x"), next="j"),
                    Sequential("y", setter("y"), next="j"),
                    Synchronize("j", merge=_combine),
                ],
                "s",
            ),
            "in _combine",
        ),
        (Workflow("retry", [Sequential("t", _flaky, retry=Retry(attempts=2))], "t"), "in _flaky"),
    ],
    ids=["spec", "merge", "task-retried"],
)
def test_a_fault_by_a_spec_a_merge_or_a_retried_task_logs_its_traceback_once(flow, where, caplog):
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([flow]) as mediator:
        assert mediator.schedule(flow.name, {}).result(timeout=TIMEOUT).state is JobState.FAULTED
    with_traceback = [r for r in caplog.records if r.exc_info is not None]
    [record] = with_traceback  # the fault's WARNING; a retry's INFO line has none
    assert record.levelno == logging.WARNING and "faulted at step" in record.getMessage()
    assert where in logging.Formatter().format(record)
    retried = [r for r in caplog.records if "attempt 2 in" in r.getMessage()]
    assert len(retried) == (1 if flow.name == "retry" else 0)


def test_a_mediator_whose_engine_fails_to_start_names_the_cause_and_leaves_nothing_running(
    tmp_path, monkeypatch
):
    # It raised "the mediator is shut down", naming nothing (pykka logged the cause where
    # nothing configured its logger), and the runners it had started ran on.
    from actors import EngineStoppedError
    from actors.stores import SqliteStore

    def watch(self, wake):  # a shared store's watch for new cases starts last
        raise OSError("cannot watch postgresql://app:hunter22@db/jobs")

    monkeypatch.setattr(SqliteStore, "watch", watch)
    from actors._runner import Runner

    started = Runner.on_start

    def slow_start(self):  # a runner slow to get going (a busy machine): still waited for
        threading.Event().wait(0.3)
        started(self)

    monkeypatch.setattr(Runner, "on_start", slow_start)
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    flow = Workflow("w", [Sequential("a", setter("a"))], start="a")
    with pytest.raises(EngineStoppedError) as failed:
        Mediator([flow], store=store, runners=3)
    assert not pykka.ActorRegistry.get_all()  # its runners stopped before it raised
    said = str(failed.value)
    assert said.startswith("the engine could not start: OSError: cannot watch"), said
    assert "hunter22" not in said
    assert isinstance(failed.value.__cause__, OSError)
    # the autouse fixture fails the test if its runners (or Scheduler) still run
