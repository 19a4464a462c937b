"""Every public read of a job returns data of the reader's own, as last saved.

Changing what a read returned changes nothing the engine holds: not what the store
holds (so neither later reads nor a resumed job), nor another read's result. A read of
a running job returns its data as last saved, whatever its step is doing to it
meanwhile: on ``memory://``, which keeps the runner's own object, a read handed out
that very object, and a step that changed it in place changed the reader's view.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT

from actors import FullMode, Job, JobState, Mediator, Sequential, Workflow
from actors.admin import Admin
from actors.messages import CaseFinished, Schedule
from actors.stores import MemoryStore, Store, open_store


def _nested(data: dict[str, Any]) -> None:
    data["items"] = [{"n": 1}]
    data["total"] = 1


NESTED = Workflow("nested", [Sequential("only", _nested)], start="only")


def _flat(data: dict[str, Any]) -> None:
    data["n"] = 1


FLAT = Workflow("flat", [Sequential("only", _flat)], start="only")


def _store(kind: str, tmp_path: Path) -> Store:
    if kind == "memory":
        return open_store("memory://")
    if kind == "memory-copies":
        return MemoryStore(copy_data=True)
    return open_store(f"sqlite:///{tmp_path / 'jobs.db'}")


STORES = ["memory", "memory-copies", "sqlite"]


@pytest.mark.parametrize("flow", [NESTED, FLAT], ids=["nested", "flat"])
@pytest.mark.parametrize("kind", STORES)
def test_changing_a_result_changes_nothing_the_engine_holds(
    kind: str, flow: Workflow, tmp_path: Path
) -> None:
    with Mediator([flow], runners=1, store=_store(kind, tmp_path)) as m:
        handle = m.schedule(flow.name, {})
        job = handle.result(timeout=TIMEOUT)
        as_saved = m.get_job(job.id).data
        job.data.clear()
        job.data["changed"] = True
        assert handle.result(timeout=TIMEOUT).data == as_saved
        assert m.get_job(job.id).data == as_saved
        read = m.get_job(job.id)
        read.data["changed"] = True
        if "items" in read.data:
            read.data["items"][0]["n"] = 99
        assert m.get_job(job.id).data == as_saved
        assert handle.result(timeout=TIMEOUT).data == as_saved
    assert as_saved.get("n", as_saved.get("total")) == 1


@pytest.mark.parametrize("kind", STORES)
def test_changing_what_the_operators_read_changes_nothing_stored(kind: str, tmp_path: Path) -> None:
    with Mediator([NESTED], runners=1, store=_store(kind, tmp_path)) as m:
        job = m.schedule("nested", {}).result(timeout=TIMEOUT)
        admin = Admin.for_mediator(m)
        info = admin.job(job.id)
        info.data["items"].append({"n": 2})
        listed = admin.jobs(workflow="nested")
        listed.items[0].data["total"] = 99
        assert admin.job(job.id).data == {"items": [{"n": 1}], "total": 1}
        assert m.get_job(job.id).data == {"items": [{"n": 1}], "total": 1}


class _Client(pykka.ThreadingActor):
    def __init__(self, scheduler: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.scheduler = scheduler
        self.got: list[Any] = []
        self.ended = threading.Event()

    def on_receive(self, message: Any) -> Any:
        if message == "go":
            self.scheduler.tell(Schedule("nested", {}, reply_to=self.actor_ref))
        elif isinstance(message, CaseFinished):
            message.job.data["items"].append("the actor's")  # its own to change
            self.got.append(message.job)
            self.ended.set()
        return None


def test_an_actor_told_a_case_ended_gets_data_of_its_own() -> None:
    with Mediator([NESTED], runners=1) as m:
        client = _Client.start(m.scheduler)
        try:
            client.tell("go")
            proxy = client.proxy()
            assert proxy.ended.get().wait(TIMEOUT)
            [job] = proxy.got.get()
        finally:
            client.stop()
        assert m.get_job(job.id).data == {"items": [{"n": 1}], "total": 1}


def _churning(started: threading.Event, stop: threading.Event) -> Workflow:
    """Step ``a`` saves ``{"n": 1}``; step ``b`` changes the data in place until ``stop``."""

    def a(data: dict[str, Any]) -> None:
        data["n"] = 1
        data["items"] = [1]

    def b(data: dict[str, Any]) -> None:
        data["n"] = -1  # torn: not what any save holds
        data["items"].append(-1)
        started.set()
        deadline = time.monotonic() + 2 * TIMEOUT
        i = 0
        while not stop.is_set():
            assert time.monotonic() < deadline, "the test never stopped the step"
            data[f"k{i % 50}"] = i  # the dict grows and shrinks as a reader iterates it
            data.pop(f"k{(i + 25) % 50}", None)
            data["items"].append(i)
            del data["items"][-1]
            i += 1
        data.clear()
        data["n"] = 2

    return Workflow("churn", [Sequential("a", a, next="b"), Sequential("b", b)], start="a")


@pytest.mark.parametrize("kind", ["memory", "memory-copies", "sqlite"])
def test_a_read_of_a_running_job_is_its_data_as_last_saved(kind: str, tmp_path: Path) -> None:
    # A durable store may hold the admitted data still: it stores a slice's saves as one.
    saved = [{"n": 1, "items": [1]}, {}]
    started, stop = threading.Event(), threading.Event()
    flow = _churning(started, stop)
    with Mediator([flow], runners=1, store=_store(kind, tmp_path)) as m:
        admin = Admin.for_mediator(m)
        handle = m.schedule("churn", {})
        try:
            assert started.wait(TIMEOUT), "step b never started"
            for _ in range(200):  # each read while step b changes the data in place
                job = m.get_job(handle.job_id)
                assert dict(job.data.items()) in saved
                assert admin.job(handle.job_id).data in saved
            assert job.data == {"n": 1, "items": [1]} or kind == "sqlite"  # a slice's saves
        finally:
            stop.set()
        assert handle.result(timeout=TIMEOUT).data == {"n": 2}
        assert m.get_job(handle.job_id).data == {"n": 2}


def test_an_on_shed_hook_gets_data_of_its_own() -> None:
    entered, opened = threading.Event(), threading.Event()

    def block(data: dict[str, Any]) -> None:
        entered.set()
        assert opened.wait(TIMEOUT), "the test never opened the gate"

    def changed(job: Any) -> None:
        job.data["items"].append("the hook's")

    flow = Workflow("block", [Sequential("only", block)], start="only")
    with Mediator(
        [flow], runners=1, capacity=1, full_mode=FullMode.DROP_OLDEST, on_shed=changed
    ) as m:
        try:
            running = m.schedule("block", {"items": [0]})
            assert entered.wait(TIMEOUT)
            shed = m.schedule("block", {"items": [1]})
            m.schedule("block", {"items": [2]})  # evicts the one before
            job = shed.result(timeout=TIMEOUT)
        finally:
            opened.set()
        assert job.state is JobState.SHED
        assert job.data == {"items": [1]}
        assert m.get_job(job.id).data == {"items": [1]}
        running.result(timeout=TIMEOUT)


def test_a_result_s_fields_cannot_be_set() -> None:
    """docs/tutorial/first-workflow.md: a ``Job`` is a snapshot whose fields cannot be set."""
    with Mediator([FLAT], runners=1) as m:
        job = m.schedule(FLAT.name, {}).result(timeout=TIMEOUT)
    before = dataclasses.asdict(job)
    for field in dataclasses.fields(Job):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(job, field.name, getattr(job, field.name))
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(job, field.name)
    with pytest.raises((AttributeError, TypeError)):  # nor can one be added
        job.note = "mine"  # type: ignore[attr-defined]
    assert dataclasses.asdict(job) == before


def test_a_copy_of_a_result_has_every_field_and_data_of_its_own() -> None:
    from actors._handle import owned

    job = Job("j", "wf", 3, "s", {"a": [1]}, JobState.FAULTED, "c", "p", 2, 4, "boom")
    mine = owned(job, None)
    assert mine == job
    assert mine.data is not job.data
    assert mine.data["a"] is not job.data["a"]


@pytest.mark.parametrize("store", ["memory://", None], ids=["by-reference", "copies"])
def test_a_harness_result_is_the_tests_own(store: str | None) -> None:
    from actors.testing import Harness

    with Harness([NESTED], seed=1, store=store) as h:
        submission = h.schedule("nested", {})
        job = submission.result()
        job.data["items"].append("the test's")
        assert submission.result().data == {"items": [{"n": 1}], "total": 1}
        stored = h.store.get(job.id)
        assert stored is not None
        assert stored.data == {"items": [{"n": 1}], "total": 1}
        assert [j.data for j in h.finish()] == [{"items": [{"n": 1}], "total": 1}]
