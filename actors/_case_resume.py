"""How an adopted job that has ended, or lost its split's Discriminator, goes on.

After a restart or a takeover the case book adopts a case's unfinished jobs as last
saved (``CaseBook.resume``). Two kinds of them never run a step again: a job saved
open (``saved_open``: it had ended while branches of it still ran), which is held again
until they end and then saved as it ended; and a branch whose split's Discriminator
fired before the restart, which is cancelled, as a branch spawned after it fired is,
instead of running its steps once more for nothing. A split whose branches all ended
before the restart fires its join, or ends, at once (``settle_split``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._case_effects import Park, Save
from actors._job import FINAL_STATES, JobState, cancel_reason, reopen_ended

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from actors._case_book import CaseBook
    from actors._case_effects import Effect
    from actors._job import JobRecord

__all__ = ["LOST", "resume_adopted", "resume_ended", "settle_split"]

LOST = "a sibling won the Discriminator"


def resume_ended(
    book: CaseBook, job: JobRecord, first_wins: Callable[[JobRecord, str], bool]
) -> list[Effect] | None:
    """The effects of adopted ``job`` if it ended or lost; ``None`` if it goes on as saved.

    ``first_wins(parent, join_step)``: whether that join is a Discriminator.
    """
    if reopen_ended(job):
        if job.split_live > 0 or book.kids.get(job.id):
            book.held.add(job.id)
            return []
        return [Save(job), *book.finalize(job)]
    if job.state in FINAL_STATES:
        return book.finalize(job)
    if not _lost(book, job, first_wins):
        return None
    split = book.kids.get(job.id)
    if split and job.state is JobState.WAITING and job.split_total and not job.joined:
        # A losing branch that split in turn: it and its branches, at any depth, are
        # cancelled as the Discriminator's own cancel does. Left to run on, a loop in
        # them (a branch polling, say) kept the case open, and spinning, for ever.
        return book.cancel(job, LOST)  # it ends with its last branch
    # Past its own split's join (a Discriminator's, whose losers may still run), or it
    # never split: its branches are cancelled, and it is not (none of them ends it).
    branches = book.cancel_branches(job, LOST) if split else []
    # Marked cancelled, it goes on as saved: its runner ends it before any step, and
    # saves it with its slices (ended here, each would be a save of its own on the
    # Scheduler's thread: 18,000 losers kept a PostgreSQL worker from starting).
    job.error = cancel_reason(job, LOST)
    job.cancel_requested = True
    # No step of it runs: no try to count (a commit of its own per job) or to watch.
    job.taken_over = job.solo = False
    if job.state is JobState.WAITING:  # parked: a runner ends it, not its timer or event
        job.due = None
    if job.state is JobState.WAITING or split:
        # Its branches' cancels go with it (a job past its join runs: handed over).
        return [*branches, book.hand_over(job)]
    return None


def settle_split(
    book: CaseBook,
    parent: JobRecord,
    join: str | None,
    first_wins: Callable[[JobRecord, str], bool],
) -> list[Effect]:
    """A split whose branches all ended before a restart: fire its join, or end it."""
    complete = len(parent.arrivals) == parent.split_total
    if join is not None and parent.arrivals and (complete or first_wins(parent, join)):
        parent.joined = True
        parent.step = join
        parent.event = ("join", join, None)
        parent.state = JobState.READY
        return [Save(parent), book.hand_over(parent)]
    short = len(parent.arrivals) < parent.split_total and parent.branch_error is None
    if short and not (parent.cancel_requested or parent.branch_cancelled):
        # It faults for branches that never reached its join: name those whose rows are
        # gone (deleted by hand), which ended nowhere, apart from those that ended.
        return book.end(parent, *book.outcome(parent, book.missing_of(parent)))
    return book.end(parent, *book.outcome(parent))


def _lost(book: CaseBook, job: JobRecord, first_wins: Callable[[JobRecord, str], bool]) -> bool:
    """Whether ``job`` is a branch its split's fired Discriminator did not take.

    The parent's arrivals name the winner until its join step runs; after that, a winner
    still unfinished (its end was not stored) has its arrival stored already, so
    cancelling it changes nothing but its own row.
    """
    parent = book.jobs.get(job.parent_id) if job.parent_id is not None else None
    return (
        parent is not None
        and parent.joined
        and job.parent_gen == parent.gen
        and job.branch_index not in parent.arrivals
        and parent.join_step is not None
        and first_wins(parent, parent.join_step)
    )


def resume_adopted(
    book: CaseBook,
    job: JobRecord,
    steps: Collection[str],
    first_wins: Callable[[JobRecord, str], bool],
) -> list[Effect]:
    """Go on with adopted ``job`` from its last saved step (``steps``: its workflow's).

    ``first_wins(parent, join_step)``: whether that join is a Discriminator.
    """
    if job.id not in book.jobs:
        return []  # its case was lost while its siblings were resumed
    # Its adopted, unfinished branches of its current split.
    job.split_live = sum(1 for k in book.kids.get(job.id, ()) if book.jobs[k].parent_gen == job.gen)
    ended = resume_ended(book, job, first_wins)
    book.places.touch(job.id)  # its split's live branches, or its end reopened
    if ended is not None:
        return ended
    if (
        job.cancel_requested
        and job.state is JobState.WAITING
        and not (job.split_total and not job.joined)
        and not book.kids.get(job.id)
    ):
        # Marked cancelled in the store as it parked (its engine stopped before the
        # park's report): a runner ends it before any step, where parked again it would
        # wait for an event or a timer that may never come.
        job.due = None
        return [book.hand_over(job)]
    if job.state is JobState.WAITING and job.split_total and not job.joined:
        book.kids.setdefault(job.id, set())
        if job.split_live > 0:
            return []
        # Every branch ended before the restart: fire its join, or end it.
        join = job.join_step if (job.join_step or "") in steps else None
        return settle_split(book, job, join, first_wins)
    if job.state is JobState.WAITING and job.event is None:
        return [Park(job)]
    return [book.hand_over(job)]
