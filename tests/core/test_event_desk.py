"""Event delivery against a model, over any order of parks, reports, events and ends.

No runtime: the store and the Scheduler are small fakes behind ``CaseReads`` and
``EventShell``. A job parks on a step that waits for events ``a`` and ``b`` (a deferred
choice); its runner stores the park first and reports it after, so an event can come
before the report. Whatever the order, the first event for a waiting job is delivered
once (at once, or early and taken when the report comes), every later event for it is
told apart (duplicate, late, finished), a fenced save delivers nothing, and an event
for a job nobody parked is unknown. A job that got its event, or finished, may park on
the same step again (a loop back to it, or an operator's reset): a new round, whose
first event is delivered whatever became of the same ids in the rounds before.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from records import record

from actors._event_desk import EventDesk
from actors._job import JobRecord, JobState
from actors._outcomes import EventOutcome

JOBS = ["j0", "j1"]
NAMES = ["a", "b"]


def cid(job: str, name: str) -> str:
    return f"{job}/choose/{name}"


@dataclass
class World:
    """The store and the Scheduler as event delivery sees them (CaseReads and EventShell)."""

    shared: bool = False
    owner: str = "me"
    rows: dict[str, JobRecord] = field(default_factory=dict)  # the store
    jobs: dict[str, JobRecord] = field(default_factory=dict)  # held by the Scheduler
    fenced: set[str] = field(default_factory=set)  # saves of these cases are fenced
    holders: dict[str, str] = field(default_factory=dict)
    made_ready: list[str] = field(default_factory=list)
    timers: set[str] = field(default_factory=set)
    desk: EventDesk | None = None

    # CaseReads
    def stored(self, job_id: str) -> Any:
        row = self.rows.get(job_id)
        return None if row is None else row.snapshot()

    def load(self, job_id: str) -> JobRecord | None:
        row = self.rows.get(job_id)
        return None if row is None else copy.deepcopy(row)

    def holder(self, case_id: str) -> str | None:
        return self.holders.get(case_id, self.owner)

    def waits_of(self, job: JobRecord) -> dict[str, str] | None:
        return {cid(job.id, n): n for n in NAMES} if job.step == "choose" else None

    # EventShell
    def held(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def claim_case(self, case_id: str) -> bool:
        return False

    def save(self, job: JobRecord) -> bool:
        if job.case_id in self.fenced:  # the Scheduler drops the case from its bookkeeping
            self.jobs.pop(job.id, None)
            if self.desk is not None:
                self.desk.correlations.withdraw(job.id, None)
                self.desk.correlations.forget_case(job.case_id)
            return False
        self.rows[job.id] = copy.deepcopy(job)
        return True

    def cancel_timer(self, job_id: str) -> None:
        self.timers.discard(job_id)

    def ready(self, job: JobRecord) -> None:
        self.made_ready.append(job.id)


KINDS = ["store_park", "report_park", "event", "event", "event", "finish", "fence", "again"]
ops = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(JOBS), st.sampled_from(NAMES)),
    max_size=30,
)


@settings(max_examples=300)
@given(ops)
def test_each_waiting_job_gets_one_event_and_later_ones_are_told_apart(  # noqa: PLR0912 - one model
    sequence: list[tuple[str, str, str]],
) -> None:
    desk = EventDesk()
    world = World(desk=desk)
    corr = desk.correlations
    # The model: where each job is.
    stored: set[str] = set()  # park stored, report not yet handled
    parked: set[str] = set()  # reported and waiting here
    got: dict[str, str] = {}  # job -> the event name it got (delivered)
    finished: set[str] = set()
    fenced: set[str] = set()
    rounds: Counter[str] = Counter()  # events delivered to each job, over its rounds
    for op, job, name in sequence:
        if op == "store_park" and job not in stored | parked | set(got) | finished | fenced:
            world.rows[job] = record(job, step="choose", state=JobState.WAITING)
            stored.add(job)
        elif op == "report_park" and job in stored:
            stored.discard(job)
            # What the Scheduler does with a park's report: an early event goes on at once.
            early = corr.take_early(job)
            report = early if early is not None else copy.deepcopy(world.rows[job])
            world.jobs[job] = report
            if early is not None:
                world.ready(early)
            else:
                corr.register(job, [(cid(job, n), n) for n in NAMES])
                world.timers.add(job)
                parked.add(job)
        elif op == "finish" and job in parked:
            parked.discard(job)
            finished.add(job)
            corr.withdraw(job, EventOutcome.FINISHED)
            world.rows[job].state = JobState.DONE
            world.jobs.pop(job)
        elif op == "fence" and job not in got:
            world.fenced.add(job)
        elif op == "again" and (job in finished or (job in got and not corr.got_early(job))):
            # Its round is over (it ran with its event, or it finished) and it parks on
            # the same step again: stored first, reported later, as any park.
            got.pop(job, None)
            finished.discard(job)
            world.jobs.pop(job, None)  # its runner holds it
            world.rows[job] = record(job, step="choose", state=JobState.WAITING)
            stored.add(job)
        elif op == "event":
            ready_before = list(world.made_ready)
            outcome = desk.deliver(cid(job, name), {"n": 2}, False, world, world)
            first = job in (stored | parked) and job not in got
            if first and job in world.fenced:
                expected = EventOutcome.ELSEWHERE
                stored.discard(job)
                parked.discard(job)
                fenced.add(job)
            elif first:
                expected = EventOutcome.DELIVERED
                got[job] = name
                rounds[job] += 1
            elif job in fenced:  # its case is another worker's: nothing is delivered here
                expected = (
                    outcome if outcome in (EventOutcome.ELSEWHERE, EventOutcome.LATE) else None
                )
            elif job in got:
                expected = EventOutcome.DUPLICATE if got[job] == name else EventOutcome.LATE
            elif job in finished:
                expected = EventOutcome.FINISHED
            else:
                expected = EventOutcome.UNKNOWN
            assert outcome is expected, (op, job, name, outcome, expected)
            if expected is EventOutcome.DELIVERED and job in parked:
                parked.discard(job)
                assert world.made_ready == [*ready_before, job]  # ready at once
                assert job not in world.timers  # its timer withdrawn
                assert world.jobs[job].event == ("reply", name, {"n": 2})
            elif expected is EventOutcome.DELIVERED:
                assert world.made_ready == ready_before  # ready when its report comes
                assert world.rows[job].event == ("reply", name, {"n": 2})  # saved with it
            else:
                assert world.made_ready == ready_before
        corr._check_invariants()
    # Every job that got an event was made ready exactly once, or is about to be (early).
    early_pending = Counter(j for j in got if corr.got_early(j))
    assert Counter(world.made_ready) == rounds - early_pending


def test_an_event_for_a_case_another_worker_holds_is_elsewhere() -> None:
    world, desk = World(shared=True), EventDesk()
    world.rows["j0"] = record("j0", step="choose", state=JobState.WAITING)
    world.holders["j0"] = "them"
    assert desk.deliver(cid("j0", "a"), None, False, world, world) is EventOutcome.ELSEWHERE
    assert world.rows["j0"].event is None  # not taken early: the park is not this worker's


def test_past_the_last_10000_answers_an_id_is_looked_up_in_the_store() -> None:
    """The last 10,000 ids answered are remembered; an older one is looked up in the store.

    docs/how-to/events-and-timeouts.md: an ended job then gives ``FINISHED``, anything
    else ``UNKNOWN``.
    """
    world, desk = World(), EventDesk()  # as the Scheduler makes it
    world.rows["j0"] = record("j0", step="choose", state=JobState.DONE)
    world.rows["j1"] = record("j1", step="after", state=JobState.RUNNING)  # went on
    for job in JOBS:
        desk.correlations.remember(cid(job, "a"), EventOutcome.DUPLICATE)
    for n in range(9_998):  # 10,000 answers in all: both ids are among them
        desk.correlations.remember(f"other-{n}/ask", EventOutcome.LATE)
    for job in JOBS:
        assert desk.deliver(cid(job, "a"), None, False, world, world) is EventOutcome.DUPLICATE
    desk.correlations.remember("other-9998/ask", EventOutcome.LATE)
    desk.correlations.remember("other-9999/ask", EventOutcome.LATE)  # both forgotten now
    assert desk.deliver(cid("j0", "a"), None, False, world, world) is EventOutcome.FINISHED
    assert desk.deliver(cid("j1", "a"), None, False, world, world) is EventOutcome.UNKNOWN
    assert world.made_ready == []
