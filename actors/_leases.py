"""What a worker on a shared store knows of its leases, between two renewals.

A plain object owned by the Scheduler (no actor, clock or store): the cases another
worker took over from this one, remembered for a while so late reports about their jobs
are ignored, and the jobs runners handed back unrun because the leases could not be
vouched for, made ready again after the next renewal unless their case was lost (a
suspect among them runs alone: ``run_alone``).
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING

from actors._errors import StoreError
from actors._stamps import operator_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors._clock import Clock
    from actors._job import JobRecord
    from actors.stores import Store

__all__ = ["LeaseGuard", "Leases", "lost_summary", "run_alone", "taken_summary"]

LOST_MEMORY = 10_000  # lost case ids remembered, to ignore late reports about them
SHOWN_CASES = 5  # case ids a summary of lost cases names
SHOWN_HOLDERS = 3  # workers it names


def lost_summary(lost: Sequence[tuple[str, str]], jobs: int) -> str:
    """One log line for the ``(case, holder)`` pairs a renewal found lost, ``jobs`` dropped.

    A worker frozen past its lease (or cut off from the store that long) finds every case
    it held taken over when it wakes: one line says how many, names a few and who holds
    them, or which operators changed them in the store (such a case is nobody's until
    the next claim); each case's own line is at DEBUG.
    """
    ids = ", ".join(case for case, _ in lost[:SHOWN_CASES])
    if len(lost) > SHOWN_CASES:
        ids += f" and {len(lost) - SHOWN_CASES} more"
    workers = [holder for _, holder in lost if operator_of(holder) is None]
    operators = [operator_of(holder) for _, holder in lost if operator_of(holder) is not None]
    whose = [
        f"{what}{_named(who, kind)}"
        for what, who, kind in (
            ("held by ", workers, "worker"),
            ("changed in the store by operator ", operators, "operator"),
        )
        if who
    ]
    # An operator's change is no takeover: it leaves the case free for the next claim.
    now = "are other workers' now, taken over" if not operators else "are not its own now, lost"
    return (
        f"{len(lost)} case(s) this worker held {now} after "
        f"its leases on them lapsed (a freeze, or the store out of reach, longer than the "
        f"lease): {ids}; {'; '.join(whose)}; dropped their {jobs} job(s) here (a handle "
        "waiting here on one of them fails with LeaseLostError)"
    )


def _named(names: Sequence[str | None], kind: str) -> str:
    """``'B' (20), 'C' (10) and 2 other worker(s)``: the most frequent first."""
    counted = Counter(names).most_common()
    named = ", ".join(f"{h!r} ({n})" for h, n in counted[:SHOWN_HOLDERS])
    if len(counted) > SHOWN_HOLDERS:
        named += f" and {len(counted) - SHOWN_HOLDERS} other {kind}(s)"
    return named


def taken_summary(taken: Sequence[tuple[str, str]]) -> str:
    """One log line for the ``(case, holder)`` pairs a claim took from workers gone silent.

    The line of the worker that takes the cases over: a worker that died says nothing,
    and one frozen says so only when it wakes (``lost_summary``).
    """
    ids = ", ".join(case for case, _ in taken[:SHOWN_CASES])
    if len(taken) > SHOWN_CASES:
        ids += f" and {len(taken) - SHOWN_CASES} more"
    named = _named([holder for _, holder in taken], "worker")
    return (
        f"took over {len(taken)} case(s) whose worker's lease expired (it died, froze, or "
        f"lost the store for longer than the lease): {ids}; from {named}; each job "
        "resumes from its last saved step, and the steps whose saves were not stored "
        "run again"
    )


class Leases:
    """Cases lost to other workers, and jobs waiting for the next renewal.

    ``lost`` is read by its owner; only this object changes it.
    """

    def __init__(
        self, lost: OrderedDict[str, None] | None = None, memory: int = LOST_MEMORY
    ) -> None:
        self.lost: OrderedDict[str, None] = lost if lost is not None else OrderedDict()
        self._memory = memory
        self._handed_back: dict[str, JobRecord] = {}

    def lose(self, case_id: str) -> None:
        """Another worker holds case ``case_id`` now; its jobs handed back are dropped."""
        self.lost[case_id] = None
        self.lost.move_to_end(case_id)
        for job_id in [k for k, v in self._handed_back.items() if v.case_id == case_id]:
            del self._handed_back[job_id]
        if len(self.lost) > self._memory:
            self.lost.popitem(last=False)

    def claim_back(self, case_id: str) -> None:
        """This worker holds case ``case_id`` again (claimed it after losing it)."""
        self.lost.pop(case_id, None)

    def hand_back(self, job: JobRecord) -> None:
        """A runner did not run ``job``: the leases could not be vouched for."""
        self._handed_back[job.id] = job

    @property
    def waiting(self) -> bool:
        """Whether jobs wait for a renewal (so every lease must be looked up)."""
        return bool(self._handed_back)

    def renewed(self) -> list[JobRecord]:
        """The leases were renewed: the jobs handed back since, whose case is still held."""
        jobs, self._handed_back = self._handed_back, {}
        return list(jobs.values())

    @staticmethod
    def must_look(renewed_at: float, deadline: float, *, waiting: bool) -> bool:
        """Whether to read who holds this worker's cases after a renewal.

        Its lease may have lapsed when the renewal ended at or after the ``deadline`` it
        vouched for (the worker was frozen, or the store out of reach or slow); and
        ``waiting``: runners handed jobs back, whose cases are looked up before they run.
        """
        return waiting or renewed_at >= deadline


def run_alone(store: Store, jobs: Sequence[JobRecord]) -> None:
    """Mark ``solo`` the ``jobs`` about to run on whose try as a suspect is still open.

    A job taken over counts its try before it runs, and a suspect's (its try from that
    saved point is not the first) runs alone until its first save. One handed back
    unrun after its count (the leases could not be vouched for), or taken back as last
    saved after its runner died before that save, has the try still open when it runs
    on: the run is that try, not counted again, and must be alone too, or a death beside
    other jobs would count as one alone. The store tells (its count of tries from the
    saved point, 2 or more); if it cannot be read, each job runs alone (slower, never
    wrong). A job still ``taken_over`` (taken back before its try was counted) counts
    that try when it runs: it runs alone if a try of it is counted already, as a claim
    says.
    """
    if not jobs:
        return
    try:
        stored = store.stored_jobs([job.id for job in jobs])
        open_tries = {job_id: saved.tries for job_id, saved in stored.items()}
    except StoreError:
        open_tries = {job.id: 2 for job in jobs}
    for job in jobs:
        if open_tries.get(job.id, 0) >= (1 if job.taken_over else 2):
            job.solo = True


class LeaseGuard:
    """Whether a runner may start a step of a job: what the Scheduler vouches for its leases.

    On a shared store a runner starts a step only while this worker can vouch that it
    holds the step's case: before ``deadline`` (the last renewal plus the lease, less a
    margin for clock drift between workers) and while the case is not among ``lost``
    (taken over by another worker). The Scheduler alone writes both; runners read them
    before every step. A message cannot do this: a runner runs several jobs, step after
    step, in one delivery and reads its inbox only between deliveries, so a frozen worker
    would run steps of cases it no longer holds. It is thread-safe by construction: each
    attribute holds an immutable value (a float, a frozenset) that the Scheduler replaces
    whole, so a runner sees the old value or the new one, never a half-changed one.
    """

    __slots__ = ("_clock", "deadline", "lost", "vouch")

    def __init__(self, clock: Clock, *, shared: bool, deadline: float) -> None:
        self._clock = clock
        self.vouch = shared  # only a shared store has leases to vouch for
        self.deadline = deadline if shared else math.inf
        self.lost: frozenset[str] = frozenset()

    def may_run(self, job: JobRecord) -> bool:
        """Whether a runner may start a step of ``job`` now (its case's lease is vouched for)."""
        if not self.vouch:
            return True
        return job.case_id not in self.lost and self._clock.now() < self.deadline
