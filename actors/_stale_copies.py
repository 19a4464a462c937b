"""Cases claimed back while a runner is still inside a job of theirs from before they were lost.

A worker whose leases lapsed (frozen, or the store out of reach) drops a case another
worker took over, but a runner inside one of its steps finishes that step: the copy it
holds is stale. If the case comes back before that (the other worker released it, or its
lease lapsed in turn) and this worker claims it, the claim's records would start the same
job on another runner beside the stale copy, and the stale copy's report, once the case
is no longer lost, would be taken as the job's: the step would run twice at once and the
job go on twice. So the records of such a case wait here, with the case still counted
lost (the stale copy's reports are ignored and its runner starts no further step of it),
until no runner holds a stale copy and no slice of one is on its way to the store (with
group commit a runner leaves the job before the writer thread has stored its save); they
are then read again from the store (the stale copy may have saved its step) and resumed.

A runner about to count its own job's try counts those of jobs waiting in the work
channel with it (``_try_batch``), and such a batch may hold jobs of the case: a stale
copy whose try lands in the store after the claim read it, so the claim's records say
"first try" where the store says the second. Any runner busy when the case was lost may
be counting one, so the case waits for all of them (it is rare, and a slice is short);
its records then take their tries from the store as the claim does: a job taken over
with a try counted from its saved point already runs alone (``JobRecord.solo``).

A stale copy's reports are ignored after the case is back too: its runner leaves the job
(``WorkChannel.done``, or the writer's callback leaves ``storing``) before it tells the
Scheduler about it, so the claimed records may have been let go, read again and resumed
before those reports come, and taken as the job's, they would run it on a second time
(its next step twice, a split's branches spawned twice). So the records in runners at the
drop are remembered (``ghosts``), and the reports that carry one, or a branch of a split
one of them made, are stale whenever they come (``stale_report``).

A plain object owned by the Scheduler's ``Effects``; no actor, thread or store of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from actors import messages as m
from actors._errors import StoreError
from actors._job import FINAL_STATES

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from actors._job import JobRecord
    from actors.stores._admin_types import StoredJob

__all__ = ["STALE_REPORTS", "StaleCopies"]

GHOSTS_KEPT = 1_000  # stale copies' records remembered: their reports come soon after the drop

STALE_REPORTS = frozenset(
    {
        m.SpawnBranch,
        m.BranchArrived,
        m.JobParked,
        m.JobEnded,
        m.LeaseUnvouched,
        m.CaseLost,
        m.SliceUnsaved,
    }
)
"""The runners' reports on a job that ``StaleCopies.stale_report`` looks at."""


class StaleCopies:
    """The stale copies still in runners, by case, and the claimed records waiting for them.

    Args:
        running: the work channel's jobs in runners, by job id (read, never changed).
        storing: the jobs whose slices the store's writer thread has not stored yet, by a
            key of each slice (read, never changed).
    """

    def __init__(
        self, running: dict[str, tuple[int, JobRecord]], storing: dict[object, JobRecord]
    ) -> None:
        self._running = running
        self._storing = storing
        # id() -> the record, of the copies in runners when their case was dropped (the
        # record is kept, so that no other record takes its id while it is remembered).
        self.ghosts: OrderedDict[int, JobRecord] = OrderedDict()
        self._splits: OrderedDict[tuple[str, int], None] = OrderedDict()  # (parent, gen)
        self._stale: dict[str, set[str]] = {}  # case id -> ids of the jobs in runners at the drop
        # case id -> records claimed back, waiting, by job id: claimed again meanwhile (its
        # worker's lease lapsed), a job is held once, not resumed twice side by side.
        self._held: dict[str, dict[str, JobRecord]] = {}

    def dropped(self, case_id: str) -> None:
        """Case ``case_id`` was lost: note the jobs runners are inside now.

        Its own (stale copies), and every other: the runner of any of them may be
        counting tries of the case's jobs with its own job's (see the module docstring).
        Those whose slices the writer has not stored yet too: that save may still land.
        """
        self._held.pop(case_id, None)  # claimed back and lost again before they could run
        running = self._running.copy()  # runners change it: copied in one go
        ids = set(running)
        copies = [job for _, job in running.values()]
        copies += self._storing.copy().values()
        for job in copies:
            ids.add(job.id)
            if job.case_id == case_id:
                self._remember(self.ghosts, id(job), job)
        if ids:
            self._stale[case_id] = ids
        else:
            self._stale.pop(case_id, None)

    def stale_report(self, message: Any) -> bool:
        """Whether ``message`` (one of ``STALE_REPORTS``) is a report of a stale copy.

        It carries a record a runner held when its case was dropped, or a branch of a
        split such a record made (a split's first branch brings the parent; the others
        name it and its split's generation).
        """
        ghosts = self.ghosts
        if type(message) is m.SpawnBranch:
            branch = message.job
            split = (branch.parent_id or "", branch.parent_gen)
            if message.parent is None:
                return split in self._splits
            if ghosts.get(id(message.parent)) is message.parent:
                self._remember(self._splits, split, None)
                return True
            return False
        return ghosts.get(id(message.job)) is message.job

    @staticmethod
    def _remember(kept: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        kept[key] = value
        if len(kept) > GHOSTS_KEPT:
            kept.popitem(last=False)

    def hold(self, jobs: list[JobRecord]) -> list[JobRecord]:
        """The claimed ``jobs`` to resume now; those of a case with a stale copy wait here."""
        if not self._stale:
            return jobs
        now: list[JobRecord] = []
        for job in jobs:
            if self._busy(job.case_id):
                self._held.setdefault(job.case_id, {})[job.id] = job
            else:
                now.append(job)
        return now

    def waiting(self, case_id: str) -> bool:
        """Whether claimed records of case ``case_id`` wait for a stale copy to leave."""
        return case_id in self._held

    def released(
        self,
        load: Callable[[str], JobRecord | None],
        stored: Callable[[Sequence[str]], Mapping[str, StoredJob]],
    ) -> list[JobRecord]:
        """The waiting records whose case no runner holds a stale copy of any more.

        Each is read again with ``load`` (the stale copy may have saved its step since
        the claim); a job ended since is left out. A case the store cannot be read for
        now waits for the next call: resumed as claimed, a job would run again a step
        its stale copy saved. A job the claim took over from a worker that stopped
        counts a try before it runs, and runs alone if the store (``stored``) holds a
        try of it from its saved point already: as the claim would have said had it
        read the store now. Called at each poll: the notes of the cases not claimed back
        go too once their runners have left.
        """
        self._forget_left()
        out: list[JobRecord] = []
        for case_id in [c for c in self._held if c not in self._stale]:
            jobs = list(self._held[case_id].values())
            try:
                found = stored([job.id for job in jobs if job.taken_over])
                again = [(job, load(job.id)) for job in jobs]
            except StoreError:
                continue  # held for the next call
            del self._held[case_id]
            for job, saved in again:
                if saved is not None and saved.state not in FINAL_STATES:
                    saved.taken_over = job.taken_over
                    saved.solo = job.taken_over and job.id in found and found[job.id].tries > 0
                    out.append(saved)
        return out

    def _forget_left(self) -> None:
        """Forget each case whose noted runners have all left since its drop.

        A case never claimed back is looked at nowhere else: its note would stay for
        good, one for each case lost while any runner was busy.
        """
        if not self._stale:
            return
        live = self._live()
        for case_id, ids in list(self._stale.items()):
            ids.intersection_update(live)
            if not ids:
                del self._stale[case_id]

    def _live(self) -> set[str]:
        """The ids of the jobs in runners now, or whose slices the writer has not stored."""
        # A slice enters ``storing`` before its job leaves ``running``: read in this order,
        # a copy moving from one to the other is seen in one or the other.
        return {*self._running.copy(), *(job.id for job in self._storing.copy().values())}

    def _busy(self, case_id: str) -> bool:
        ids = self._stale.get(case_id)
        if ids is None:
            return False
        ids.intersection_update(self._live())
        if ids:
            return True
        del self._stale[case_id]
        return False
