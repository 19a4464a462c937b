"""The admission gate against a model, under any order of single and batch admissions.

The gate must never hold more than ``capacity`` reserved plus queued jobs, keep its queue
in admission order, evict only the oldest queued jobs, and take a batch's slots all
together or not at all.
"""

from __future__ import annotations

from collections import deque

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from records import record

from actors import FullMode, MailboxFull
from actors._admission import AdmissionGate


class GateMachine(RuleBasedStateMachine):
    """Non-blocking calls only: what a blocked producer waits for is tested on threads."""

    @initialize(capacity=st.integers(1, 6), mode=st.sampled_from(list(FullMode)))
    def start(self, capacity: int, mode: FullMode) -> None:
        self.gate = AdmissionGate(capacity, mode)
        self.capacity, self.mode = capacity, mode
        self.queue: deque[str] = deque()  # the model: ids in admission order
        self.reserved: list[str] = []  # ids holding a reserved, not yet committed slot
        self.next_id = 0

    def _new_ids(self, count: int) -> list[str]:
        ids = [f"j{self.next_id + i}" for i in range(count)]
        self.next_id += count
        return ids

    def _room(self, count: int) -> tuple[bool, int]:
        """Whether ``count`` slots can be had without blocking, and how many to evict."""
        short = len(self.queue) + len(self.reserved) + count - self.capacity
        if short <= 0:
            return True, 0
        if self.mode is FullMode.DROP_OLDEST and len(self.queue) >= short:
            return True, short
        return False, 0

    @rule(count=st.integers(1, 8))
    def reserve_many(self, count: int) -> None:
        if count > self.capacity:
            try:
                self.gate.reserve_many(count, block=False)
            except ValueError:
                return
            raise AssertionError("a batch above the capacity was accepted")
        fits, evict = self._room(count)
        try:
            evicted = self.gate.reserve_many(count, block=False)
        except MailboxFull:
            assert not fits
            return
        assert fits
        assert [job.id for job in evicted] == [self.queue.popleft() for _ in range(evict)]
        self.reserved += self._new_ids(count)

    @rule()
    def reserve_one(self) -> None:
        fits, evict = self._room(1)
        try:
            evicted = self.gate.reserve(block=False)
        except MailboxFull:
            assert not fits
            return
        assert fits
        assert (evicted.id if evicted is not None else None) == (
            self.queue.popleft() if evict else None
        )
        self.reserved += self._new_ids(1)

    @precondition(lambda self: self.reserved)
    @rule(data=st.data())
    def commit_or_release(self, data: st.DataObject) -> None:
        job_id = self.reserved.pop(0)
        if data.draw(st.booleans(), label="commit"):
            self.gate.commit(record(job_id, data={}))
            self.queue.append(job_id)
        else:
            self.gate.release()

    @rule()
    def pop(self) -> None:
        job = self.gate.pop()
        assert (job.id if job is not None else None) == (
            self.queue.popleft() if self.queue else None
        )

    @invariant()
    def matches_the_model(self) -> None:
        assert self.gate.ids() == list(self.queue)
        assert self.gate.used == len(self.queue) + len(self.reserved)
        self.gate._check_invariants()


TestGate = GateMachine.TestCase
