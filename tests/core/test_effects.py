"""Effects keeps the fenced-save rule: the case is dropped everywhere, what is left for it skipped.

No actor: the case tree, timers, correlations and leases are the real plain objects, the
runners are fakes that record what they are told, and the store fences saves of one case
as another worker's lease would.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from records import record

from actors import Sequential, Workflow
from actors._admission import AdmissionGate, FullMode
from actors._case_book import CaseBook
from actors._case_effects import Ready, Save
from actors._case_store import CaseStore
from actors._correlations import Correlations
from actors._crew import Crew
from actors._effects import Effects
from actors._engine import EngineConfig
from actors._errors import LeaseLostError, StoreError
from actors._handle import JobHandle
from actors._job import JobRecord, JobState
from actors._polling import Poller
from actors._recovery import Recovery
from actors._runtime import ThreadingRuntime
from actors._tally import Tally
from actors._timekeeper import Timekeeper
from actors.stores import MemoryStore

WF = Workflow("w", [Sequential("a", lambda d: d)], "a")


class FencingStore(MemoryStore):
    """Saves of the cases in ``fenced`` are refused, as another worker's lease refuses them."""

    def __init__(self) -> None:
        super().__init__()
        self.fenced: set[str] = set()

    def save(self, job: JobRecord) -> None:
        if job.case_id in self.fenced:
            raise LeaseLostError(job.id, job.case_id, "them", "me")
        super().save(job)


class Told:
    def __init__(self) -> None:
        self.told: list[Any] = []

    def tell(self, message: Any) -> None:
        self.told.append(message)

    def stop(self, *, block: bool) -> None:
        pass


def _effects(store: FencingStore) -> tuple[Effects, CaseBook, Crew, Timekeeper, Correlations]:
    runtime = ThreadingRuntime()
    config = EngineConfig.build(
        [WF], store, _Clock(), AdmissionGate(4, FullMode.BACKPRESSURE), runtime
    )
    reads = CaseStore(config)
    book, time, corr = CaseBook(reads.first_wins), Timekeeper(), Correlations()
    crew = Crew(config.channel, lambda _: Told(), 1)
    crew.start()
    poller = Poller(config.clock, "me", shared=True, lease_seconds=8, poll_interval=1, vouched=0)
    fx = Effects(
        config,
        book=book,
        crew=crew,
        time=time,
        correlations=corr,
        poller=poller,
        tally=Tally(),
        recovery=Recovery(config.workflows),
        store=reads,
    )
    return fx, book, crew, time, corr


class _Clock:
    def now(self) -> float:
        return 0.0

    def alarm(self, callback: Any) -> Any:
        raise NotImplementedError


def test_a_fenced_save_drops_the_case_and_skips_what_was_left_for_it() -> None:
    store = FencingStore()
    fx, book, crew, time, corr = _effects(store)
    lost = record("p", state=JobState.WAITING, due=5.0)
    other = record("q", state=JobState.WAITING)
    for job in (lost, other):
        store.create(job)
        book.hold(job)
    fx.park(lost, (("p/a", ""),))
    handle = JobHandle("p", "w", ThreadingRuntime().create_future())
    fx._c.handles.watch("p", handle)
    assert crew._channel.take(0) is None  # the runner waits idle
    store.fenced.add("p")
    fx.apply([Save(lost), Ready(lost), Ready(other)])
    assert fx.lost("p")
    assert not fx.lost("q")
    assert "p" not in book.jobs  # dropped from the case tree
    assert time.pending() == {}  # its timer withdrawn
    assert not corr.waits("p")
    told = crew.refs[0].told  # type: ignore[attr-defined]
    assert [msg.job.id for msg in told] == ["q"]  # the lost case's Ready was skipped
    with pytest.raises(LeaseLostError) as failed:  # its handle fails with the cause
        handle.result(timeout=0)
    assert failed.value.case_id == "p"


class DownStore(FencingStore):
    """A store whose saves and reads fail while ``down``, as a restarting server's do."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def save(self, job: JobRecord) -> None:
        if self.down:
            raise StoreError("cannot save: connection refused")
        super().save(job)

    def load(self, job_id: str) -> JobRecord | None:
        if self.down:
            raise StoreError("cannot load: connection refused")
        return super().load(job_id)


def test_a_reload_the_store_fails_is_owed_and_resumes_once_it_answers(caplog) -> None:
    store = DownStore()
    fx, book, crew, time, _ = _effects(store)
    saved = record("r", state=JobState.READY, step="a", data={"n": 1})
    store.create(saved)
    ran = record("r", state=JobState.RUNNING, step="a", data={"n": 2})  # its slice: unstored
    book.hold(ran)
    assert crew._channel.take(0) is None  # the runner waits idle
    store.down = True
    caplog.set_level(logging.INFO, logger="actors")
    assert not fx.resume_saved(ran, "its steps could not be stored")
    # Held as handed out (its place, its lease, a cancel kept for its return); a poll due.
    assert book.jobs["r"] is ran and "r" in book.out
    assert fx.outage.owed == 1
    assert time.polling()  # a store of this process alone: polled while it is owed
    assert "cannot be reached" in caplog.text
    assert not fx.settle()  # still down: still owed
    assert fx.outage.reloads["r"][0] is ran
    store.down = False
    assert fx.settle()
    fx.outage.answered(1.0)
    assert fx.outage.owed == 0
    assert book.jobs["r"] is not ran and book.jobs["r"].data == {"n": 1}  # as last saved
    told = crew.refs[0].told  # type: ignore[attr-defined]
    assert [msg.job.id for msg in told] == ["r"]  # and handed to the runner again
    assert "is reachable again" in caplog.text
    assert "job r resumes from its last saved step 'a'" in caplog.text


def test_a_save_of_a_held_job_that_fails_is_raised_and_the_job_taken_back_later() -> None:
    store = DownStore()
    fx, book, _, _, _ = _effects(store)
    parked = record("t", state=JobState.WAITING, due=5.0)
    store.create(parked)
    fired = record("t", state=JobState.READY)  # its timer fired: not stored
    book.hold(fired)
    store.down = True
    with pytest.raises(StoreError):
        fx.save(fired)
    assert fx.outage.reloads["t"][0] is fired and "t" in book.out
    store.down = False
    assert fx.settle()
    assert book.jobs["t"].state is JobState.WAITING and book.jobs["t"].due == 5.0


def test_an_ended_job_the_store_failed_to_save_is_stored_once_it_answers() -> None:
    store = DownStore()
    fx, book, _, _, _ = _effects(store)
    job = record("e", state=JobState.WAITING)
    store.create(job)
    book.hold(job)
    store.down = True
    fx.end(job, JobState.CANCELLED, "cancelled")  # the tree forgets it; the save fails
    assert "e" not in book.jobs
    assert list(fx.outage.resaves) == ["e"]
    assert not fx.settle()
    store.down = False
    assert fx.settle()
    assert store.load("e").state is JobState.CANCELLED
    assert fx.outage.owed == 0


def test_a_job_owed_to_the_store_whose_case_was_lost_meanwhile_is_not_resumed() -> None:
    store = DownStore()
    fx, book, crew, _, _ = _effects(store)
    job = record("x", state=JobState.RUNNING)
    store.create(record("x"))
    book.hold(job)
    assert crew._channel.take(0) is None  # the runner waits idle
    store.down = True
    fx.resume_saved(job, "its runner failed")
    fx.drop_case("x", LeaseLostError("x", "x", "them", "me"))  # the renewal found it taken
    store.down = False
    assert fx.settle()
    assert "x" not in book.jobs and fx.outage.owed == 0
    assert crew.refs[0].told == []  # type: ignore[attr-defined]


def test_a_refused_slice_runs_again_then_alone_and_a_job_ended_here_is_forgotten() -> None:
    store = FencingStore()
    fx, book, crew, _, _ = _effects(store)
    store.create(record("r"))
    refused = StoreError("cannot store a group: integer out of range")
    ran = record("r", state=JobState.RUNNING, step="b")
    book.hold(ran)
    assert crew._channel.take(0) is None  # the runner waits idle
    fx.slice_unsaved(0, ran, refused)  # the first refusal: run again, not alone
    [first] = crew.refs[0].told  # type: ignore[attr-defined]
    assert (first.job.step, first.job.solo) == ("a", False)  # as last stored
    assert crew._channel.take(0, first.job) is None
    fx.slice_unsaved(0, first.job, refused)  # the second in a row: alone
    second = crew.refs[0].told[-1].job  # type: ignore[attr-defined]
    assert second.solo is True
    assert fx.unsaved.counts == {"r": 2}
    crew._channel.take(0, second)
    book.hold(second)
    fx.end(second, JobState.CANCELLED, "cancelled")  # ended with no runner's report
    assert fx.unsaved.counts == {}
