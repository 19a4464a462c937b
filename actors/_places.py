"""How many cases take a worker's places, kept as its jobs change instead of recounted.

A worker on a shared store claims up to its capacity less the cases in progress on it
(``places_taken`` says which: the rule, and the full recount the tests compare with).
Recounting over every job held at each claim cost O(jobs held): hundreds of milliseconds
at 200,000 parked jobs, where a backlogged worker claims ten times a second. ``Places``
keeps the count instead. The case book's ``jobs`` and ``out`` are ``HeldJobs`` and
``HandedOut``, which mark each job put in, taken out, handed out or brought back; the
book marks a job whose state, live branches or branches it changes in place, after the
change. ``taken()`` settles the marked jobs alone: O(the jobs changed since the last
claim), whatever the worker holds. A store no other worker shares is never claimed
from: its book keeps no count (``Recounted``). All of it runs on the Scheduler's thread,
with the book it belongs to.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from actors._job import FINAL_STATES, JobState

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from actors._job import JobRecord

__all__ = ["HandedOut", "HeldJobs", "Places", "Recounted", "places_taken"]

# Marks are settled once this many pile up, not only at a claim: a worker that does not
# claim for a while (stopping, its store failing, long poll intervals) must not pile up
# a mark for every job it ran meanwhile.
SETTLE_AT = 10_000
LIVE, PARKED = 0, 1  # a job's standing: in progress, or parked (its case frees its place)


def standing(job: JobRecord, kids: Mapping[str, Collection[str]], out: Collection[str]) -> int:
    """``LIVE``, ``PARKED``, or -1 for a job that is over (it takes no place).

    A job in ``out`` is the work channel's or a runner's: live, its record not read.
    """
    if job.id in out:
        return LIVE
    state = job.state
    if state is JobState.WAITING and job.split_live <= 0 and not kids.get(job.id):
        return PARKED
    return -1 if state.is_final else LIVE


def places_taken(
    jobs: Iterable[JobRecord], kids: Mapping[str, Collection[str]], out: Collection[str]
) -> int:
    """How many cases of ``jobs`` take a worker's place: unfinished, and none of theirs parked.

    A place is a case in progress here. A case one of whose jobs waits on a timer or an
    external event (waiting, and not on branches of its own) frees its place, so a worker
    whose cases wait for days still claims others; a case whose jobs are ready, running,
    being saved or waiting on running branches keeps it. Counting cases rather than the
    jobs queued for a runner keeps a worker from claiming more than it runs: jobs handed
    to runners and their saves are not queued, yet their cases still take the worker's
    time, and cases a worker holds unrun are cases another worker cannot take. A job in
    ``out`` (handed to a runner, or its saves on their way) is in progress whatever its
    record says: the runner has it, and the record is not read here.

    O(jobs): the reference ``Places`` keeps incrementally, for tests and checks.
    """
    live: set[str] = set()
    parked: set[str] = set()
    for job in jobs:
        kind = standing(job, kids, out)
        if kind == LIVE:
            live.add(job.case_id)
        elif kind == PARKED:
            parked.add(job.case_id)
    return len(live - parked)


class Places:
    """The cases in progress among the jobs of a case book, kept as they change.

    Per case, how many of its jobs are live and how many parked (as last settled); a
    case takes a place while it has a live job and no parked one.
    """

    __slots__ = (
        "__weakref__",
        "_kids",
        "_live",
        "_marked",
        "_of",
        "_parked",
        "_taken",
        "jobs",
        "out",
    )

    def __init__(self, kids: Mapping[str, Collection[str]]) -> None:
        self._marked: set[str] = set()  # jobs whose standing may have changed
        self._kids = kids
        self.jobs = HeldJobs(self, self._marked)
        self.out = HandedOut(self, self._marked)
        self._of: dict[str, tuple[str, int]] = {}  # job -> (case, standing), as counted
        self._live: dict[str, int] = {}  # case -> its jobs counted live
        self._parked: dict[str, int] = {}  # case -> its jobs counted parked
        self._taken = 0

    def touch(self, job_id: str) -> None:
        """``job_id``'s standing may have changed: settle it before the next count.

        Marked after the change, never before: a settle may come at any mark.
        """
        marked = self._marked
        marked.add(job_id)
        if len(marked) >= SETTLE_AT:
            self._settle()

    def taken(self) -> int:
        """How many cases take a place now (``places_taken`` of the book, kept)."""
        if self._marked:
            self._settle()
        return self._taken

    def _settle(self) -> None:  # noqa: PLR0912 - written out: one pass per change
        """Count each marked job as it stands now (written out: it runs once per change)."""
        jobs, kids, out, of = self.jobs, self._kids, self.out, self._of
        live, parked, taken = self._live, self._parked, self._taken
        waiting, final = JobState.WAITING, FINAL_STATES
        for job_id in self._marked:
            job = jobs.get(job_id)
            if job is None:
                now = -1
            elif job_id in out:
                now = LIVE
            elif job.state is waiting and job.split_live <= 0 and not kids.get(job_id):
                now = PARKED
            else:
                now = -1 if job.state in final else LIVE
            was = of.get(job_id)
            if was is None:
                if now < 0:
                    continue
                case = job.case_id  # type: ignore[union-attr]  # now >= 0: held
            else:
                if was[1] == now:
                    continue
                del of[job_id]
                case = was[0]
                # A case takes a place while it has a live job and no parked one.
                if was[1] == LIVE:
                    left = live[case] - 1
                    if left:
                        live[case] = left
                    else:
                        del live[case]
                        taken -= case not in parked
                else:
                    left = parked[case] - 1
                    if left:
                        parked[case] = left
                    else:
                        del parked[case]
                        taken += case in live
            if now == LIVE:
                had = live.get(case, 0)
                live[case] = had + 1
                taken += not had and case not in parked
            elif now == PARKED:
                had = parked.get(case, 0)
                parked[case] = had + 1
                taken -= not had and case in live
            else:
                continue
            of[job_id] = (case, now)
        self._taken = taken
        self._marked.clear()

    def _check_invariants(self) -> None:
        """The count kept is the full recount's, and so is each job's standing counted."""
        jobs, kids, out = self.jobs, self._kids, self.out
        recount = places_taken(jobs.values(), kids, out)
        assert self.taken() == recount, f"{self._taken} places kept, {recount} counted"
        for job in jobs.values():
            kind = standing(job, kids, out)
            kept = self._of.get(job.id)
            assert kept == (None if kind < 0 else (job.case_id, kind)), f"{job.id}: {kept}"
        assert len(self._of) <= len(jobs), "a job no longer held is counted"


class Recounted:
    """``Places`` for a store no other worker shares: nothing kept, nothing marked.

    Such a store is never claimed from, so its book's jobs and handed-out jobs are a
    plain dict and set (no mark on the Scheduler's busiest paths), and a count, if
    one is asked for, is the full recount.
    """

    __slots__ = ("_kids", "jobs", "out")

    def __init__(self, kids: Mapping[str, Collection[str]]) -> None:
        self._kids = kids
        self.jobs: dict[str, JobRecord] = {}
        self.out: set[str] = set()

    def touch(self, job_id: str) -> None:
        """Nothing to mark."""

    def taken(self) -> int:
        """How many cases take a place now: ``places_taken``, O(jobs held)."""
        return places_taken(self.jobs.values(), self._kids, self.out)

    def _check_invariants(self) -> None:
        """Nothing kept to check."""


class _Marking:
    """Marks a job for its ``Places`` (held weakly: no cycle for the collector to break)."""

    __slots__ = ()
    _marked: set[str]
    _places: weakref.ref[Places]

    def _mark(self, job_id: str) -> None:
        marked = self._marked
        marked.add(job_id)
        if len(marked) >= SETTLE_AT:
            places = self._places()
            if places is not None:
                places._settle()


class HeldJobs(_Marking, dict[str, "JobRecord"]):
    """The jobs a case book holds, by id: each job put in or taken out is marked."""

    __slots__ = ("_marked", "_places")

    def __init__(self, places: Places, marked: set[str]) -> None:
        super().__init__()
        self._places = weakref.ref(places)
        self._marked = marked

    def __setitem__(self, job_id: str, job: JobRecord) -> None:
        dict.__setitem__(self, job_id, job)
        marked = self._marked  # _mark(), written out: every job put in passes here
        marked.add(job_id)
        if len(marked) >= SETTLE_AT:
            self._mark(job_id)

    def __delitem__(self, job_id: str) -> None:
        super().__delitem__(job_id)
        self._mark(job_id)

    def pop(self, job_id: str, *default: Any) -> Any:
        """Remove ``job_id``'s record and return it (``default`` if none)."""
        job = dict.pop(self, job_id, *default)
        self._mark(job_id)
        return job

    def setdefault(self, job_id: str, job: JobRecord) -> JobRecord:
        """``job_id``'s record, put in first as ``job`` if there is none."""
        self._mark(job_id)
        return super().setdefault(job_id, job)

    def popitem(self) -> tuple[str, JobRecord]:
        """Remove the last job put in and return it."""
        item = super().popitem()
        self._mark(item[0])
        return item

    def update(self, *others: Any, **more: JobRecord) -> None:
        """Put in every record given (as ``dict.update``)."""
        for job_id, job in dict(*others, **more).items():
            self[job_id] = job

    def clear(self) -> None:
        """Remove every record."""
        for job_id in self:
            self._mark(job_id)
        super().clear()

    def __ior__(self, other: Any) -> HeldJobs:  # type: ignore[override,misc]
        self.update(other)
        return self


class HandedOut(_Marking, set[str]):
    """Jobs handed to the work channel (and from it to a runner): each change is marked."""

    __slots__ = ("_marked", "_places")

    def __init__(self, places: Places, marked: set[str]) -> None:
        super().__init__()
        self._places = weakref.ref(places)
        self._marked = marked

    def add(self, job_id: str) -> None:
        """``job_id`` is handed out."""
        set.add(self, job_id)
        marked = self._marked  # _mark(), written out: every job handed out passes here
        marked.add(job_id)
        if len(marked) >= SETTLE_AT:
            self._mark(job_id)

    def discard(self, job_id: object) -> None:
        """``job_id`` came back (if it was out)."""
        set.discard(self, job_id)
        marked = self._marked  # _mark(), written out: every job brought back passes here
        marked.add(job_id)  # type: ignore[arg-type]  # a job id: nothing else is out
        if len(marked) >= SETTLE_AT:
            self._mark(job_id)  # type: ignore[arg-type]

    def remove(self, job_id: str) -> None:
        """``job_id`` came back; ``KeyError`` if it was not out."""
        super().remove(job_id)
        self._mark(job_id)

    def pop(self) -> str:
        """Take back any job handed out."""
        job_id = super().pop()
        self._mark(job_id)
        return job_id

    def clear(self) -> None:
        """Take back every job."""
        for job_id in self:
            self._mark(job_id)
        super().clear()

    def update(self, *others: Iterable[str]) -> None:
        """Hand out every job given."""
        for ids in others:
            for job_id in list(ids):
                self.add(job_id)

    def difference_update(self, *others: Iterable[Any]) -> None:
        """Take back every job given."""
        for ids in others:
            for job_id in list(ids):
                self.discard(job_id)

    def intersection_update(self, *others: Iterable[Any]) -> None:
        """Take back every job not in all of ``others``."""
        self.difference_update(set(self).difference(set(self).intersection(*others)))

    def symmetric_difference_update(self, other: Iterable[str]) -> None:
        """Hand out the jobs of ``other`` not out; take back those that were."""
        for job_id in set(other):
            if job_id in self:
                self.discard(job_id)
            else:
                self.add(job_id)

    def __ior__(self, other: Any) -> HandedOut:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __iand__(self, other: Any) -> HandedOut:  # type: ignore[misc]
        self.intersection_update(other)
        return self

    def __isub__(self, other: Any) -> HandedOut:  # type: ignore[misc]
        self.difference_update(other)
        return self

    def __ixor__(self, other: Any) -> HandedOut:  # type: ignore[override,misc]
        self.symmetric_difference_update(other)
        return self
