"""Job records for tests: the one builder every test file makes its records with.

A test names only the fields it is about; the rest are a READY root of workflow ``w``
version 1 at step ``a`` with data ``{"n": 1}``. A file whose tests share other defaults
binds them once with ``functools.partial``. ``same`` compares what a save records, and
``saved_split`` stores a parent waiting on its branches. ``Order`` and ``Line`` are
registered dataclasses for data that is more than JSON.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from actors._job import JobRecord, JobState
from actors.stores import register_dataclass

_ids = itertools.count(1)
_DEFAULT: Any = object()


@register_dataclass
@dataclass
class Line:
    """A line of an ``Order``."""

    sku: str
    qty: int = 1


@register_dataclass
@dataclass
class Order:
    """Job data with nested dataclasses, a list and an optional field."""

    order_id: int
    lines: list[Line] = field(default_factory=list)
    note: str | None = None


def record(
    job_id: str | None = None,
    *,
    case_id: str | None = None,
    workflow: str = "w",
    version: int = 1,
    step: str | None = "a",
    data: Any = _DEFAULT,
    state: JobState = JobState.READY,
    **fields: Any,
) -> JobRecord:
    """A job record; ``job_id`` defaults to a fresh id, ``case_id`` to the job's own id."""
    job_id = job_id or f"job-{next(_ids)}"
    return JobRecord(
        id=job_id,
        case_id=case_id or job_id,
        workflow=workflow,
        version=version,
        step=step,
        data={"n": 1} if data is _DEFAULT else data,
        state=state,
        **fields,
    )


def same(a: JobRecord, b: JobRecord) -> None:
    """The fields a save records are equal (cancel_requested is not a saved field)."""
    skip = {"cancel_requested", "taken_over", "solo"}
    for name in JobRecord.__slots__:
        if name not in skip:
            assert getattr(a, name) == getattr(b, name), name


def saved_split(store: Any, n: int = 3, *, gen: int = 1, build: Any = record) -> Any:
    """A parent WAITING on a split of ``n`` READY branches, saved with ``store.save_split``."""
    parent = build(state=JobState.RUNNING)
    store.create(parent)
    parent.state, parent.gen, parent.split_step, parent.split_total = (
        JobState.WAITING,
        gen,
        "fan",
        n,
    )
    branches = [
        build(
            f"{parent.id}.{i}",
            case_id=parent.case_id,
            step=f"b{i}",
            data={"i": i},
            parent_id=parent.id,
            branch_index=i,
            gen=gen,
        )
        for i in range(n)
    ]
    store.save_split(parent, branches)
    return parent, branches
