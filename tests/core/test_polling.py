"""The Poller against a fake shared store, over any sequence of polls, losses and hand-backs.

No runtime: the store is a dict of case -> holder, and time is what the test says.
Whatever the order, a runner may start a step of a case only while the Poller vouches
for it (renewed within the lease, less its margin, and not lost to another worker); another
worker takes a case only once this worker's lease expired (by a clock up to the margin
ahead); a renewal after a lapse or a hand-back finds exactly the cases another worker took;
and a job handed back comes back after the next renewal, unless its case was lost meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st
from records import record

from actors._job import JobState
from actors._places import places_taken
from actors._polling import BACKLOG_POLLS, Poller

CASES = ["c0", "c1", "c2"]


class ManualTime:
    """Time as the test says (the lease guard only asks what time it is)."""

    def __init__(self) -> None:
        self.now_ = 0.0

    def now(self) -> float:
        return self.now_

    def alarm(self, callback):
        raise NotImplementedError


LEASE = 8.0


@dataclass
class LeaseBook:
    """A shared store's leases: who holds each case, and when its worker's lease ends."""

    holders: dict[str, str] = field(default_factory=dict)
    free: list[str] = field(default_factory=list)  # cases nobody holds, to claim
    expires: float = LEASE  # the worker vouched at 0.0

    def heartbeat(self, owner: str, now: float, lease_seconds: float) -> None:
        self.expires = now + lease_seconds

    def lease_owners(self, case_ids: list[str]) -> dict[str, str | None]:
        return {c: self.holders.get(c) for c in case_ids}

    def claim(self, owner, now, lease_seconds, limit, *, case_id=None, workflows=None):
        pool = [c for c in self.free if case_id is None or c == case_id][:limit]
        for c in pool:
            self.free.remove(c)
            self.holders[c] = owner
        return [record(c) for c in pool]


ops = st.lists(
    st.tuples(
        st.sampled_from(["tick", "poll", "steal", "hand_back", "claim_back"]),
        st.sampled_from(CASES),
        st.integers(0, 5).map(float),
    ),
    max_size=30,
)


@given(ops)
def test_runners_run_only_what_the_poller_vouches_for(
    sequence: list[tuple[str, str, float]],
) -> None:
    clock = ManualTime()
    store = LeaseBook(holders=dict.fromkeys(CASES, "me"))
    poller = Poller(clock, "me", shared=True, lease_seconds=LEASE, poll_interval=1.0, vouched=0.0)
    held = set(CASES)  # the cases this worker runs
    renewed_at = 0.0
    lost: set[str] = set()
    handed: dict[str, str] = {}  # job id -> case id
    for op, case, dt in sequence:
        if op == "tick":
            clock.now_ = clock.now_ + dt
        elif op == "steal" and clock.now_ >= store.expires - LEASE / 4:
            # Another worker takes the case over (this one does not know), once this
            # worker's lease expired by its clock, up to the margin ahead of this one's.
            store.holders[case] = "them"
        elif op == "hand_back" and case not in lost:  # reports on lost cases are ignored
            job = record(f"{case}.{int(dt)}", case_id=case)
            poller.hand_back(job)
            handed[job.id] = case
        elif op == "claim_back" and case in lost:  # claimed again later
            store.holders[case] = "me"
            poller.claim_back(case)
            lost.discard(case)
            held.add(case)
        elif op == "poll":
            now = clock.now_
            taken_away = poller.renew(store, now, lambda: sorted(held))
            expected = sorted(c for c in held if store.holders.get(c) != "me")
            assert sorted(c for c, _ in taken_away) == expected
            for c, holder in taken_away:
                assert holder == "them"
                poller.lose(c)  # what the Scheduler does with each (it drops the case)
                lost.add(c)
                held.discard(c)
                handed = {j: k for j, k in handed.items() if k != c}
            back = poller.vouch(now)
            assert sorted(j.id for j in back) == sorted(handed)
            handed = {}
            renewed_at = now
        for c in CASES:
            job = record(f"{c}.x", case_id=c)
            vouched = c not in lost and clock.now_ < renewed_at + LEASE - LEASE / 4
            assert poller.guard.may_run(job) == vouched, (c, clock.now_, renewed_at, lost)
        poller._check_invariants()


def test_a_claim_that_fills_every_place_polls_again_soon() -> None:
    store = LeaseBook(free=["a", "b", "c"])
    poller = Poller(
        ManualTime(), "me", shared=True, lease_seconds=LEASE, poll_interval=1.0, vouched=0.0
    )
    taken, next_poll = poller.claim(store, 10.0, 2, workflows=[("w", 1)])
    assert [job.id for job in taken] == ["a", "b"]
    assert next_poll == 10.0 + 1.0 / BACKLOG_POLLS
    taken, next_poll = poller.claim(store, 20.0, 5, workflows=[("w", 1)])
    assert [job.id for job in taken] == ["c"]
    assert next_poll == 21.0
    assert poller.claim(store, 30.0, 0, workflows=[]) == ([], 31.0)  # no room: no claim


def test_without_a_shared_store_every_step_may_run() -> None:
    poller = Poller(
        ManualTime(), "me", shared=False, lease_seconds=LEASE, poll_interval=1.0, vouched=0.0
    )
    poller.lose("c0")
    assert poller.guard.may_run(record("j", case_id="c0"))


def test_renewals_come_once_per_interval_and_claims_in_between_renew_nothing() -> None:
    poller = Poller(
        ManualTime(), "me", shared=True, lease_seconds=LEASE, poll_interval=1.0, vouched=0.0
    )
    assert poller.renewal_due(0.0)  # never renewed yet
    poller.vouch(0.0)
    assert not poller.renewal_due(0.5)  # a claim in between renews nothing
    assert poller.renewal_due(1.0)  # an interval on
    poller.hand_back(record("j", case_id="c0"))
    assert poller.renewal_due(0.6)  # a job handed back: renew at once


class CountedBook(LeaseBook):
    """A ``LeaseBook`` that counts the claims asked of it."""

    def __init__(self, free: list[str]) -> None:
        super().__init__(free=free)
        self.claims = 0

    def claim(self, owner, now, lease_seconds, limit, *, case_id=None, workflows=None):
        self.claims += 1
        return super().claim(owner, now, lease_seconds, limit, workflows=workflows)


def test_a_start_that_fills_every_place_claims_again_as_a_quarter_of_them_free() -> None:
    # The worker took 8 cases at its start, all it has room for: cases wait in the store.
    store = CountedBook(free=[f"c{n}" for n in range(20)])
    poller = Poller(
        ManualTime(), "me", shared=True, lease_seconds=LEASE, poll_interval=1.0, vouched=0.0
    )
    started = [record(c) for c in store.free[:8]]
    del store.free[:8]
    assert poller.started(0.0, started, capacity=8) == 1.0 / BACKLOG_POLLS
    assert poller.backlogged
    poller.vouch(0.0)
    # A poll while every place is busy learns nothing of the store (and does not ask it):
    # the worker stays backlogged and looks again a tenth of the interval on.
    assert poller.claim(store, 0.1, 0, workflows=[("w", 1)]) == ([], 0.2)
    assert poller.backlogged and store.claims == 0
    # Cases end: a claim is due once a quarter of the places (2 of 8) freed, not before.
    assert not poller.case_ended(capacity=8)
    assert poller.case_ended(capacity=8)
    taken, next_poll = poller.claim(store, 0.15, 2, workflows=[("w", 1)])
    assert len(taken) == 2 and poller.backlogged and next_poll == 0.25
    assert [poller.case_ended(capacity=8) for _ in range(2)] == [False, True]  # counted anew
    # The store runs dry: no more claims as cases end, and the next poll is the renewal.
    taken, next_poll = poller.claim(store, 0.3, 12, workflows=[("w", 1)])
    assert len(taken) == 10 and not poller.backlogged and next_poll == 1.0
    assert not any(poller.case_ended(capacity=8) for _ in range(8))
    assert store.claims == 2


def test_a_start_with_places_to_spare_polls_an_interval_on() -> None:
    poller = Poller(
        ManualTime(), "me", shared=True, lease_seconds=LEASE, poll_interval=1.0, vouched=0.0
    )
    # Two jobs of one case are one place: the start left 1 of 2 places free.
    jobs = [record("a"), record("a.1", case_id="a")]
    assert poller.started(5.0, jobs, capacity=2) == 6.0
    assert not poller.backlogged and not poller.case_ended(capacity=2)


def test_places_are_the_cases_in_progress_not_those_parked_on_a_timer_or_an_event() -> None:
    waiting = JobState.WAITING
    jobs = [
        record("run"),  # ready
        record("out", state=waiting),  # handed to a runner: its record is not read
        record("join", state=waiting, split_live=1),  # waits on its running branch
        record("join.1", case_id="join", state=JobState.DONE),
        record("kids", state=waiting),  # its branches were spawned, not ended yet
        record("kids.1", case_id="kids", state=waiting, due=9.0),  # one parks on a timer
        record("event", state=waiting),  # parked on an event (no branches)
        record("done", state=JobState.DONE),
        record("faulted", state=JobState.FAULTED),
    ]
    kids = {"kids": {"kids.1"}}
    assert places_taken(jobs, kids, out={"out"}) == 3  # run, out, join
    assert places_taken(jobs, kids, out=set()) == 2  # "out" reads as parked by itself
