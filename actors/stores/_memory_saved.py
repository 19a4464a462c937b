"""What a memory store keeps of a save: the record's fields as saved, never the record.

The engine goes on changing a record after its save: a runner its step, state and data
(in place, in the next step's task), the Scheduler a waiting parent's split bookkeeping
as its branches end. A store holding the record would show those changes unsaved, and
a resume would start from a state never saved. So a save is a flat tuple of the
record's values as they were (one ``BUILD_TUPLE`` of attribute reads: no object per
save), with data the store's own copy, and a load builds the engine a new record from
it. The positions below name its items.
"""

from __future__ import annotations

from typing import Any

from actors._job import JobRecord, JobState

__all__ = [
    "AT",
    "CASE",
    "DATA",
    "DUE",
    "GEN",
    "JOINED",
    "KEPT",
    "PARENT",
    "SPLIT_TOTAL",
    "STATE",
    "VERSION",
    "WORKFLOW",
    "Saved",
    "record_of",
    "released",
]

# One save: ``MemoryStore._put`` builds it in this order (each name is an index).
Saved = tuple[Any, ...]
ID, STEP, STATE, ATTEMPT, ERROR, DUE, EVENT, DATA, AT = range(9)
CASE, WORKFLOW, VERSION, PARENT, BRANCH = range(9, 14)
SPLIT_STEP, SPLIT_TOTAL, SPLIT_LIVE, JOIN_STEP, JOINED = range(14, 19)
BRANCH_ERROR, BRANCH_CANCELLED, GEN, PARENT_GEN = range(19, 23)
KEPT = 23  # the arrivals the record was saved with, the store's copy (None: none)

_READY = JobState.READY


def record_of(saved: Saved, data: Any, arrivals: dict[int, Any], event: Any) -> JobRecord:
    """A new record of ``saved`` with the caller's own ``data``, ``arrivals`` and ``event``.

    Built field by field, as ``JobRecord.branch`` builds one: the fields a store does not
    keep (``cancel_requested``, ``taken_over``, ``solo``) are at their defaults.
    """
    new = object.__new__(JobRecord)
    new.id = saved[ID]
    new.case_id = saved[CASE]
    new.workflow = saved[WORKFLOW]
    new.version = saved[VERSION]
    new.step = saved[STEP]
    new.data = data
    new.state = saved[STATE]
    new.parent_id = saved[PARENT]
    new.branch_index = saved[BRANCH]
    new.attempt = saved[ATTEMPT]
    new.error = saved[ERROR]
    new.due = saved[DUE]
    new.event = event
    new.split_step = saved[SPLIT_STEP]
    new.split_total = saved[SPLIT_TOTAL]
    new.split_live = saved[SPLIT_LIVE]
    new.arrivals = arrivals
    new.join_step = saved[JOIN_STEP]
    new.joined = saved[JOINED]
    new.branch_error = saved[BRANCH_ERROR]
    new.branch_cancelled = saved[BRANCH_CANCELLED]
    new.gen = saved[GEN]
    new.parent_gen = saved[PARENT_GEN]
    new.cancel_requested = False
    new.taken_over = False
    new.solo = False
    return new


def released(saved: Saved, join_step: str) -> Saved:
    """``saved`` READY at ``join_step``, joined, with the join's event (its data kept)."""
    event = ("join", join_step, None)
    return (
        *saved[:STEP],
        join_step,
        _READY,
        *saved[ATTEMPT:DUE],
        None,
        event,
        *saved[DATA:JOIN_STEP],
        join_step,
        True,
        *saved[BRANCH_ERROR:],
    )
