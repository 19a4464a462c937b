"""Which step put a value other than a dict in a job's data, for a later step's fault.

A task's return value (unless ``None``) replaces the job's data, and so does a join's
merge's. One that returns, say, a number or a list is usually a bug that shows only at a
later step, whose own code finds the data wrong: that step's fault then names the step
that returned the value, if the job's data is still that very value.
"""

from __future__ import annotations

import reprlib
from typing import TYPE_CHECKING, Any

from actors._steps import Sequential

if TYPE_CHECKING:
    from actors._job import JobRecord
    from actors._steps import Step

__all__ = ["Returned", "returned_by"]

Returned = tuple[str, "Step", Any]
"""``(job id, step, value)``: the step whose task or merge returned ``value`` (not a dict)."""


def returned_by(returned: Returned | None, job: JobRecord, step: Step) -> str:
    """What ``step``'s fault adds about ``returned``: ``""`` unless it is the job's data."""
    data = job.data
    # Only the very value returned: a handler (on_reply...) may have replaced it since,
    # and a restored job's data is a copy.
    if returned is None or returned[0] != job.id or returned[2] is not data:
        return ""
    source = returned[1]
    if source is step:
        return ""  # the failing step's own earlier attempt: nothing new to name
    shown = f"{type(data).__name__} {reprlib.repr(data)}"
    if isinstance(source, Sequential):
        return (
            f"; the job's data is {shown}, which the task of step {source.name!r} "
            "returned (a task's return value, unless None, replaces the job's data)"
        )
    return (
        f"; the job's data is {shown}, which the merge of join step {source.name!r} "
        "returned where a dict was expected (a merge's return value, unless None, "
        "replaces the splitting job's data)"
    )
