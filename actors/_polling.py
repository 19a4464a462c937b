"""A worker's leases on a shared store: renewing them, noticing losses, claiming cases.

A plain object owned by the Scheduler (no actor, thread or clock of its own). It owns
the ``Leases`` bookkeeping and the ``LeaseGuard`` runners read, and talks to the store
only through the few calls of ``LeaseStore``, so a test can drive it with a fake store.
The Scheduler calls it on its poll timer, when a runner hands a job back, and when an
event or an operator names a case no worker holds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from actors._leases import LeaseGuard, Leases

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from actors._clock import Clock
    from actors._job import JobRecord

__all__ = ["LeaseStore", "Poller"]

BACKLOG_POLLS = 10  # polls per interval while every claim fills the worker up


class LeaseStore(Protocol):
    """The store calls leases need (``actors.stores.Store`` has them)."""

    def heartbeat(self, owner: str, now: float, lease_seconds: float) -> None:
        """Renew ``owner``'s lease (every case it holds)."""

    def lease_owners(self, case_ids: list[str]) -> dict[str, str | None]:
        """Who holds each case's lease."""

    def claim(
        self,
        owner: str,
        now: float,
        lease_seconds: float,
        limit: int,
        *,
        case_id: str | None = None,
        workflows: Collection[tuple[str, int]] | None = None,
    ) -> list[JobRecord]:
        """Take up to ``limit`` cases no live worker holds."""


class Poller:
    """This worker's leases: the deadline it vouches for, cases lost, jobs handed back."""

    def __init__(
        self,
        clock: Clock,
        owner: str,
        *,
        shared: bool,
        lease_seconds: float,
        poll_interval: float,
        vouched: float,
    ) -> None:
        self.owner = owner
        self._clock = clock
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self._margin = lease_seconds / 4  # for clock drift between workers
        self.leases = Leases()
        self.guard = LeaseGuard(clock, shared=shared, deadline=self._deadline(vouched))
        # When the leases are next renewed, and whether the last claim filled every free
        # place (more cases are likely waiting: claim again as soon as places free), and
        # how many cases ended here since the last claim.
        self._renew_at = -math.inf
        self.backlogged = False
        self._ended = 0

    def _deadline(self, vouched: float) -> float:
        return vouched + self.lease_seconds - self._margin

    # -- bookkeeping ---------------------------------------------------------------------------

    def lose(self, case_id: str) -> None:
        """Another worker holds case ``case_id`` now."""
        self.leases.lose(case_id)
        self.guard.lost = frozenset(self.leases.lost)

    def claim_back(self, case_id: str) -> None:
        """This worker holds case ``case_id`` again."""
        if case_id in self.leases.lost:
            self.leases.claim_back(case_id)
            self.guard.lost = frozenset(self.leases.lost)

    def hand_back(self, job: JobRecord) -> None:
        """A runner did not run ``job``: the leases could not be vouched for."""
        self.leases.hand_back(job)

    # -- a poll ----------------------------------------------------------------------------------

    def renewal_due(self, now: float) -> bool:
        """Whether this poll renews the leases: once per interval, or now if they may lapse.

        They may have lapsed when this worker was frozen past its deadline or runners
        handed jobs back. A renewal due more than an interval ahead was set before the
        clock stepped back: it is due now, or none would come until the clock made up
        the step. The claims in between (backlogged, or woken) vouch for nothing
        more: a claim extends the worker's lease only when it takes a case.
        """
        return (
            now >= self._renew_at
            or now >= self.guard.deadline
            or bool(self.leases.waiting)
            or self._renew_at - now > self.poll_interval  # the clock stepped back
        )

    def renew(
        self, store: LeaseStore, now: float, held: Callable[[], Collection[str]]
    ) -> list[tuple[str, str]]:
        """Renew this worker's lease; the ``(case, holder)`` of held cases another holds now.

        Another worker takes a case of this one only once this worker's lease expired,
        after the deadline it vouches for (the lease less a margin for clock drift). A
        renewal that ended before that deadline was stored before any worker could find
        the lease expired: nothing was lost, and nothing is read. Otherwise (frozen, the
        store out of reach or slow, or runners handed jobs back) read who holds the cases
        ``held()`` names, collected only then (a worker may hold 100,000): a claim that
        took some commits before this renewal is stored (it locks this worker's lease,
        see ``Store.claim``), so their holders show.
        """
        deadline, waiting = self.guard.deadline, self.leases.waiting
        store.heartbeat(self.owner, now, self.lease_seconds)
        if not Leases.must_look(self._clock.now(), deadline, waiting=waiting):
            return []
        owners = store.lease_owners(sorted(held()))
        return [(c, h) for c, h in owners.items() if h is not None and h != self.owner]

    def vouch(self, now: float) -> list[JobRecord]:
        """Every lease held was renewed at ``now``: the jobs handed back since, to run on."""
        self.guard.deadline = self._deadline(now)
        self._renew_at = now + self.poll_interval
        return self.leases.renewed()

    def started(self, now: float, resumed: Collection[JobRecord], capacity: int) -> float:
        """The worker took ``resumed`` at its start (at most ``capacity`` cases): when to poll.

        A start that filled every place is a claim like any other: more cases are likely
        waiting, so the worker is ``backlogged`` and polls again a tenth of the interval
        on, not a whole interval after taking its first ``capacity`` cases.
        """
        self._ended = 0
        self.backlogged = len({job.case_id for job in resumed}) >= capacity
        return now + self.poll_interval / (BACKLOG_POLLS if self.backlogged else 1)

    def claim(
        self, store: LeaseStore, now: float, room: int, workflows: Collection[tuple[str, int]]
    ) -> tuple[list[JobRecord], float]:
        """Claim up to ``room`` cases; what was taken, and when to poll next.

        When every free place was filled, more cases are likely waiting: the worker is
        ``backlogged`` (it claims again as soon as a quarter of its places are free, see
        ``case_ended``) and the next poll comes soon rather than at most ``room`` cases
        per interval. A poll with no free place learns nothing of the store, so it leaves
        the backlog as it was (without asking the store). The next poll is never later
        than the next renewal.
        """
        self._ended = 0
        taken: list[JobRecord] = []
        if room > 0:
            taken = store.claim(
                self.owner, now, self.lease_seconds, limit=room, workflows=workflows
            )
            self.backlogged = len({job.case_id for job in taken}) >= room
        due = now + self.poll_interval / (BACKLOG_POLLS if self.backlogged else 1)
        if self._renew_at > now:  # else the renewal failed: try again after an interval
            due = min(due, self._renew_at)
        return taken, due

    def case_ended(self, capacity: int) -> bool:
        """A case ended or parked here (either frees its place): whether to claim now.

        Now rather than at the next poll: only while ``backlogged``, once a quarter of the
        places (``capacity // 4``, at least one) freed since the last claim. An empty store
        is not asked again at every case's end, nor a backlogged one once per case.
        """
        if not self.backlogged:
            return False
        self._ended += 1
        return self._ended >= max(1, capacity // 4)

    def claim_case(
        self, store: LeaseStore, now: float, case_id: str, workflows: Collection[tuple[str, int]]
    ) -> list[JobRecord]:
        """Claim case ``case_id`` if no live worker holds it (its jobs, or none)."""
        return store.claim(
            self.owner, now, self.lease_seconds, 1, case_id=case_id, workflows=workflows
        )

    def _check_invariants(self, jobs: Any = None) -> None:
        assert self.guard.lost == frozenset(self.leases.lost)
