"""The case tree: which jobs the Scheduler holds, the branches of each split, and joins.

A plain object owned by the Scheduler, with no actor, clock, store or work channel: each
method takes what a message said and returns the effects the Scheduler must carry out,
in order. Its own bookkeeping is done at once, as if every save succeeds; a save that
is fenced (another worker took the case) drops the whole case, and the Scheduler then
skips the effects left for that case, so the outcome is the same as stopping there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._case_effects import (
    Cancel,
    Effect,
    Finished,
    Ready,
    Save,
    Withdraw,
    split_outcome,
)
from actors._case_resume import resume_adopted
from actors._job import FINAL_STATES, JobRecord, JobState, branch_faulted, cancel_reason, saved_open
from actors._places import Places, Recounted
from actors._redact import error_text

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Sequence

__all__ = ["CaseBook"]

# Module globals: an enum member read from its class goes through its metaclass's hook.
_WAITING, _READY = JobState.WAITING, JobState.READY
_FAULTED, _CANCELLED = JobState.FAULTED, JobState.CANCELLED


class CaseBook:
    """Jobs held by the Scheduler, the live branches of each split, and jobs held open.

    ``first_wins(parent, join_step)`` tells whether that join is a Discriminator;
    ``join_of(parent)`` which join the workflow leads ``parent``'s split to, if one;
    ``missing_of(parent)`` the indexes of its current split's branches the store holds
    no row of (read only for a split that ends without its join, after a restart).
    """

    def __init__(
        self,
        first_wins: Callable[[JobRecord, str], bool],
        join_of: Callable[[JobRecord], str | None] = lambda parent: None,
        *,
        keep_places: bool = True,
        missing_of: Callable[[JobRecord], list[int]] = lambda parent: [],
    ) -> None:
        self.kids: dict[str, set[str]] = {}
        # The cases in progress, kept as ``jobs`` and ``out`` change (each marks the job) and
        # as the methods below change a held job (each marks it after); none for a private store.
        self.places = Places(self.kids) if keep_places else Recounted(self.kids)
        self.jobs: dict[str, JobRecord] = self.places.jobs
        # Jobs whose own thread ended while branches of theirs still run (after a
        # Discriminator): they end for good with their last branch.
        self.held: set[str] = set()
        # Cancels of jobs whose own message (parked, split, runner failed) was still on
        # its way here: applied when the job arrives.
        self.cancels: set[str] = set()
        # Cancels of jobs a runner had (or the work channel had handed one) when they came:
        # that runner was told to stop (``StopJob``); the job's record is the runner's
        # until it reports, so the mark (and why) is put on it when it comes back here.
        self.stopping: dict[str, tuple[str, str]] = {}  # job id -> (case id, why)
        # Jobs handed over to the work channel (and from it to a runner): their records
        # are not the Scheduler's until they come back (``returned``), so nothing here
        # reads or writes them meanwhile but their id and case id, which never change.
        self.out: set[str] = self.places.out
        self._first_wins = first_wins
        self._join_of = join_of
        self.missing_of = missing_of

    # -- messages ------------------------------------------------------------------------

    def spawn(self, parent: JobRecord | None, child: JobRecord) -> list[Effect]:
        """A split started branch ``child`` (the first branch brings its ``parent``)."""
        if parent is not None:
            self.jobs[parent.id] = parent
            self.kids.setdefault(parent.id, set())
            # Count the split's branches now: a branch may end before its siblings'
            # messages arrive, so the set of spawned branches cannot tell "all ended".
            parent.split_live = parent.split_total
        assert child.parent_id is not None
        parent = self.jobs[child.parent_id]
        self.jobs[child.id] = child
        self.kids[parent.id].add(child.id)
        self.places.touch(parent.id)
        if parent.cancel_requested:
            effects = self.end(
                child, JobState.CANCELLED, "cancelled with its parent before it started"
            )
        elif parent.joined and child.parent_gen == parent.gen:  # a Discriminator already won
            effects = self.end(child, JobState.CANCELLED, "a sibling won the Discriminator")
        elif self.cancels and child.id in self.cancels:  # cancelled as this message came
            self.claim_cancel(child)
            effects = self.end(child, JobState.CANCELLED, child.error)
        else:
            self.out.add(child.id)  # hand_over(), inlined: one per branch
            effects = [Ready(child)]
        if child.branch_index == parent.split_total - 1 and parent.id in self.cancels:
            self.cancels.discard(parent.id)  # cancelled as it split: now all its branches are in
            effects += self.cancel(parent, "cancelled")
        return effects

    def hand_over(self, job: JobRecord) -> Ready:
        """``job`` goes to the work channel: its record is not the Scheduler's until it returns."""
        self.out.add(job.id)
        return Ready(job)

    def returned(self, job: JobRecord) -> None:
        """``job``'s record came back (a runner reported, or it was withdrawn).

        Marked cancelled if its runner was told to stop it meanwhile.
        """
        self.out.discard(job.id)
        if not self.stopping:
            return
        stop = self.stopping.pop(job.id, None)
        if stop is not None:
            # A job that ended as the cancel came (its runner had run its last step) ends
            # as it ended: a DONE job carries no error, a faulted one keeps its own.
            if job.state not in FINAL_STATES:
                job.error = cancel_reason(job, stop[1])
            job.cancel_requested = True

    def claim_cancel(self, job: JobRecord) -> None:
        """Mark ``job`` cancelled if a cancel came while its message was on the way here."""
        if job.id in self.cancels:
            self.cancels.discard(job.id)
            job.error = cancel_reason(job, "cancelled")
            job.cancel_requested = True

    def hold(self, job: JobRecord) -> None:
        """Hold ``job`` as it is now (parked, handed back, or about to be ended here)."""
        self.jobs[job.id] = job

    def arrived(
        self, child: JobRecord, join_step: str, still_open: bool = False
    ) -> list[Effect] | None:
        """Branch ``child`` reached ``join_step`` and ended; ``None`` if it ended before.

        ``still_open``: its runner saved it open; like a job that ended, a branch of it
        still running holds it until its last branch ends (``ended``).
        """
        if child.id not in self.kids.get(child.parent_id or "", ()):
            # A repeated arrival (a branch re-run after a crash, a duplicated message):
            # the branch has ended already and counted once; nothing more to do.
            return None
        self.jobs[child.id] = child
        parent = self.jobs.get(child.parent_id or "")
        effects: list[Effect] = []
        # A branch cancelled while its runner ran its last step still arrived: the runner
        # stored the arrival (and the join it completed) before this report, so it counts
        # here too. A cancelled parent's join never fires.
        if (
            parent is not None
            and not parent.cancel_requested
            and parent.state is _WAITING
            and not parent.joined
            and child.parent_gen == parent.gen
        ):
            effects = self._arrive(parent, child, join_step)
        return effects + self.ended(child, still_open)

    def _arrive(self, parent: JobRecord, child: JobRecord, join_step: str) -> list[Effect]:
        if parent.join_step is None:
            parent.join_step = join_step
        elif parent.join_step != join_step:
            parent.branch_error = parent.branch_error or (
                f"branch {child.branch_index} arrived at {join_step!r} but its siblings at "
                f"{parent.join_step!r}; all branches of a split must meet at one join"
            )
            return []
        assert child.branch_index is not None
        parent.arrivals[child.branch_index] = child.data
        first_wins = self._first_wins(parent, join_step)
        if not (first_wins or len(parent.arrivals) == parent.split_total):
            return []
        parent.joined = True
        parent.step = join_step
        parent.event = ("join", join_step, None)
        parent.state = _READY
        # Nothing to save: the arrival that fired the join stored the parent READY at
        # it, with every branch's data (the runner's record_arrival, before it reported).
        effects: list[Effect] = [self.hand_over(parent)]
        if first_wins:
            why = "a sibling won the Discriminator"
            effects += [
                Cancel(self.jobs[kid], why)
                for kid in list(self.kids.get(parent.id, ()))
                if kid != child.id and kid in self.jobs
            ]
        return effects

    def ended(self, job: JobRecord, still_open: bool = False) -> list[Effect]:
        """A runner ended ``job``'s own thread (and saved it: ``still_open``, as not ended).

        A job held for its branches has its row saved as it ended with its last branch.
        """
        self.jobs[job.id] = job
        if job.split_live > 0 or self.kids.get(job.id):
            self.held.add(job.id)
            return []
        # Its last branch ended after its runner saved it open (``saved_open``).
        return [Save(job), *self.finalize(job)] if still_open else self.finalize(job)

    def end(self, job: JobRecord, state: JobState, error: str | None) -> list[Effect]:
        """End a job the Scheduler holds (not one a runner is running)."""
        effects: list[Effect] = []
        if self._close(job, state, error, effects):
            effects += self.finalize(job)
        return effects

    def _close(
        self, job: JobRecord, state: JobState, error: str | None, effects: list[Effect]
    ) -> bool:
        """Set ``job``'s end and save it; whether it is over (else held for its branches)."""
        job.state = state
        job.error = error_text(error) if error is not None else None  # as a runner does
        job.due = None
        self.places.touch(job.id)
        if job.split_live > 0 or self.kids.get(job.id):
            effects.append(Save(saved_open(job)))  # saved as it ended with its last branch
            self.held.add(job.id)
            return False
        effects.append(Save(job))
        return True

    def finalize(self, job: JobRecord) -> list[Effect]:
        """``job`` is over with every branch of it: forget it and tell its parent.

        A loop up the tree, not recursion: the parent may end with it, then its own parent,
        and so on up a case nested any depth (Python's stack holds about 1,000 frames).
        """
        effects: list[Effect] = []
        over: JobRecord | None = job
        while over is not None:
            over = self._forget(over, effects)
        return effects

    def _forget(self, job: JobRecord, effects: list[Effect]) -> JobRecord | None:
        """Finalize ``job`` alone; its parent if that ended with it (to finalize next)."""
        job_id = job.id
        if self.held:  # these three are mostly empty: a test each, no call
            self.held.discard(job_id)
        if self.cancels:
            self.cancels.discard(job_id)
        if self.stopping:
            self.stopping.pop(job_id, None)
        self.out.discard(job_id)
        self.jobs.pop(job_id, None)
        self.kids.pop(job_id, None)
        effects.append(Finished(job))
        parent = self.jobs.get(job.parent_id) if job.parent_id is not None else None
        if parent is None:
            return None
        kids = self.kids.get(parent.id)
        if kids is None or job_id not in kids:
            return None  # already counted
        kids.discard(job_id)
        if job.parent_gen == parent.gen:
            parent.split_live -= 1
        self.places.touch(parent.id)
        return self._child_ended(parent, job, effects)

    def _child_ended(
        self, parent: JobRecord, child: JobRecord, effects: list[Effect]
    ) -> JobRecord | None:
        """Count ``child``'s end on ``parent``; ``parent`` if it is over now (to finalize)."""
        if not (parent.joined or child.parent_gen != parent.gen):
            if child.state is _FAULTED:
                parent.branch_error = branch_faulted(parent.branch_error, child)
            elif child.state is _CANCELLED:
                parent.branch_cancelled = True
        if parent.id in self.held:  # its own thread had already ended
            if not self.kids.get(parent.id) and parent.split_live <= 0:
                self.held.discard(parent.id)
                effects.append(Save(parent))  # its row was saved open (see saved_open)
                return parent
        elif (
            # Only the parent's current split decides how that split ended: a Discriminator's
            # losing branch may end after its looping parent has split again (even before the
            # new branches are spawned), and must neither end the new split nor hold it open.
            # split_live counts the current split's branches not yet ended, spawned or not.
            child.parent_gen == parent.gen
            and parent.split_live <= 0
            and not parent.joined
            and parent.split_total
            and parent.state is _WAITING
        ):
            return parent if self._close(parent, *self.outcome(parent), effects) else None
        return None

    def outcome(
        self, parent: JobRecord, missing: Sequence[int] = ()
    ) -> tuple[JobState, str | None]:
        """``split_outcome`` of ``parent``, naming its join by the workflow if none arrived."""
        unnamed = parent.join_step is None
        return split_outcome(parent, self._join_of(parent) if unnamed else None, missing)

    def cancel(self, job: JobRecord, why: str) -> list[Effect]:
        """Cancel ``job`` and every branch of it the tree holds.

        A job the tree holds parked, or split with no branch left, ends now. A ready or
        running one is the work channel's or a runner's, so its record is left alone:
        ``Withdraw`` takes it back if no runner has it yet, else its runner is told to
        stop it before its next step (``stop``). Branches come first, depth first, each
        before its parent; the walk keeps its own stack, so a case may nest any depth.
        """
        effects: list[Effect] = []
        # One entry per job being cancelled: the job, whether the work channel has it,
        # and the branches of it still to visit (read when the job is reached, as a
        # recursive walk would).
        stack = [self._cancel_enter(job, why)]
        while stack:
            job, out, kids = stack[-1]
            for kid in kids:
                if kid in self.jobs:
                    stack.append(self._cancel_enter(self.jobs[kid], why))
                    break
            else:
                stack.pop()
                if job.id not in self.jobs:
                    continue  # it ended through its branches
                if out:
                    effects.append(Withdraw(job, why))
                elif job.state is JobState.CANCELLED or (
                    job.state is JobState.WAITING
                    and job.split_live <= 0
                    and not self.kids.get(job.id)
                ):
                    effects += self.end(job, JobState.CANCELLED, why)
        return effects

    def cancel_branches(self, job: JobRecord, why: str) -> list[Effect]:
        """Cancel every branch of ``job`` the tree holds (``job`` itself is left as it is)."""
        effects: list[Effect] = []
        for kid in sorted(self.kids.get(job.id, ())):
            if kid in self.jobs:
                effects += self.cancel(self.jobs[kid], why)
        return effects

    def _cancel_enter(self, job: JobRecord, why: str) -> tuple[JobRecord, bool, Iterator[str]]:
        out = job.id in self.out
        if not out:
            if job.state not in FINAL_STATES:
                job.error = cancel_reason(job, why)
            job.cancel_requested = True
        return job, out, iter(list(self.kids.get(job.id, ())))

    # -- recovery and takeover -----------------------------------------------------------

    def adopt(self, jobs: list[JobRecord]) -> None:
        """Hold ``jobs`` as last saved, each branch linked to its parent if held."""
        for job in jobs:
            self.jobs[job.id] = job
        for job in jobs:
            if job.parent_id is not None and job.parent_id in self.jobs:
                self.kids.setdefault(job.parent_id, set()).add(job.id)
                self.places.touch(job.parent_id)

    def resume(self, job: JobRecord, steps: Collection[str]) -> list[Effect]:
        """Go on with adopted ``job`` from its last saved step (``steps``: its workflow's)."""
        return resume_adopted(self, job, steps, self._first_wins)

    def stop(self, job: JobRecord, why: str) -> bool:
        """A runner has ``job``: note the cancel for its return. ``False``: noted before.

        Reads only the record's id and case id, which never change.
        """
        if job.id in self.stopping:
            return False
        self.stopping[job.id] = (job.case_id, why)
        return True

    def drop_case(self, case_id: str) -> list[JobRecord]:
        """Forget every job of case ``case_id`` (another worker holds it); return them."""
        dropped = [job for job in self.jobs.values() if job.case_id == case_id]
        for job in dropped:
            self.jobs.pop(job.id, None)
            self.kids.pop(job.id, None)
            self.held.discard(job.id)
            self.cancels.discard(job.id)
            self.out.discard(job.id)
        for job_id in [k for k, (case, _) in self.stopping.items() if case == case_id]:
            del self.stopping[job_id]
        return dropped

    def _check_invariants(self) -> None:
        """Every live branch is held and names its parent; the places kept are counted."""
        self.places._check_invariants()
        for parent_id, kids in self.kids.items():
            for kid in kids:
                assert self.jobs[kid].parent_id == parent_id, f"{kid} is not {parent_id}'s"
