"""What the case book decides: the effects the Scheduler carries out, in order.

Each is a plain record naming a job (see ``CaseBook``); ``split_outcome`` says how a
split that no join continued ends. Nothing changes an effect once it is made; they are
not frozen dataclasses only because a frozen one costs about twice as much to make, and
the Scheduler makes two for every job (``Ready`` and ``Finished``). They never leave the
Scheduler's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actors._job import JobRecord, JobState

__all__ = [
    "Cancel",
    "Effect",
    "Finished",
    "Park",
    "Ready",
    "Save",
    "Withdraw",
    "split_outcome",
]


@dataclass(slots=True)
class Save:
    """Store ``job`` as it is now (a fenced save drops its case)."""

    job: JobRecord


@dataclass(slots=True)
class Ready:
    """Put ``job`` in the work channel for a runner."""

    job: JobRecord


@dataclass(slots=True)
class Park:
    """``job`` waits: arm its timer and register the events its step waits on."""

    job: JobRecord


@dataclass(slots=True)
class Finished:
    """``job`` ended for good: count it, drop its timer and correlations, resolve a root."""

    job: JobRecord


@dataclass(slots=True)
class Cancel:
    """Cancel ``job`` and its branches (a sibling won a Discriminator): ``CaseBook.cancel``."""

    job: JobRecord
    why: str


@dataclass(slots=True)
class Withdraw:
    """Take ready ``job`` back from the work channel and end it cancelled.

    If a runner has it already, that runner is told to stop it before its next step.
    """

    job: JobRecord
    why: str


Effect = Save | Ready | Park | Finished | Cancel | Withdraw


def split_outcome(
    parent: JobRecord, join: str | None = None, missing: Sequence[int] = ()
) -> tuple[JobState, str | None]:
    """How a split that no join continued ends, once all its branches have ended.

    ``join``: the join its branches lead to in the workflow, named when none arrived to
    name it (``CaseStore.join_of``). A split with a join that every branch ended before
    reaching faults too: its join, and every step after it, would otherwise be skipped.
    ``missing``: the indexes of its branches the store holds no row of (deleted by hand),
    named as what kept them from the join.
    """
    join = parent.join_step or join
    if parent.cancel_requested or parent.branch_cancelled:
        # A split whose branches lead to no join (each ends its own thread) has none to name.
        why = "a branch was cancelled" + (" before its join" if join is not None else "")
        return JobState.CANCELLED, parent.error or why
    if parent.arrivals or join is not None:
        got = f"{len(parent.arrivals)} of {parent.split_total}"
        if any(not 0 <= i < parent.split_total for i in parent.arrivals):
            # Only a row edited by hand: a split's branches are indexed from 0 to its count.
            why = (
                f"its row's split_total ({parent.split_total}) does not count the branches "
                f"that arrived (indexes {sorted(parent.arrivals)}): the row was edited"
            )
            return JobState.FAULTED, f"join {join!r} got {got} branches: {why}"
        why = parent.branch_error or (
            "the others ended without reaching it"
            if parent.arrivals
            else "every branch ended without reaching it"
        )
        if missing and not parent.branch_error:
            rows = ", ".join(map(str, missing))
            gone = f"the store holds no row of its branch(es) {rows} (deleted, by hand or retain)"
            ended = parent.split_total - len(parent.arrivals) - len(missing)
            why = gone if ended <= 0 else f"{gone}; the others ended without reaching it"
        return JobState.FAULTED, f"join {join!r} got {got} branches: {why}"
    if parent.branch_error:
        return JobState.FAULTED, parent.branch_error
    return JobState.DONE, None
