"""Effects keeps the fenced-save rule: the case is dropped everywhere, what is left for it skipped.

No actor: the case tree, timers, correlations and leases are the real plain objects, the
runners are fakes that record what they are told, and the store fences saves of one case
as another worker's lease would.
"""

from __future__ import annotations

from typing import Any

import pytest
from records import record

from actors import Sequential, Workflow
from actors._admission import AdmissionGate, FullMode
from actors._case_book import CaseBook, Ready, Save
from actors._case_store import CaseStore
from actors._correlations import Correlations
from actors._crew import Crew
from actors._effects import Effects
from actors._engine import EngineConfig
from actors._errors import LeaseLostError
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
