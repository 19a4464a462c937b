"""Which join a split's branches meet at, read from the workflow's graph.

The engine learns a split's join from the first branch that arrives at it. When none
arrives (every branch faulted), the parent's error still names the join its branches
were going to: the one their paths reach. A nested split inside a branch is passed over
through its own join, whose ``next`` carries the branch on.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from actors._steps import Discriminator, ParallelSplit, Synchronize

if TYPE_CHECKING:
    from collections.abc import Iterable

    from actors._workflow import Workflow

__all__ = ["apart_joins", "root_joins", "split_join"]


def split_join(wf: Workflow, split: str) -> str | None:
    """The join step the branches of ``split`` reach, or ``None``: no join, or several.

    Several happen when a choice sends branches to different joins (a run that does
    faults: "all branches of a split must meet at one join"); no join is named then.
    """
    if not isinstance(wf.steps.get(split), ParallelSplit):
        return None
    joins = _joins(wf, split, {}, set())
    return next(iter(joins)) if len(joins) == 1 else None


def apart_joins(wf: Workflow, split: ParallelSplit) -> str | None:
    """Why the branches of a list ``split`` can never meet at one join, or ``None``.

    So when each branch reaches only ``Synchronize`` joins and no join is common to all:
    a run faults once they have arrived ("all branches of a split must meet at one
    join"). Branches that may end without a join, or reach a ``Discriminator`` (the first
    arrival wins), are left to the run. A nested split on the way is passed over through
    its own joins, as for ``split_join``.
    """
    if split.is_dynamic:  # one first step for every branch: they go the same ways
        return None
    known: dict[str, frozenset[str]] = {}
    firsts = split.targets()
    reached = [_reach(wf, (first,), known, {split.name}) for first in firsts]
    if not all(reached) or frozenset.intersection(*reached):
        return None
    if not all(isinstance(wf.steps[j], Synchronize) for joins in reached for j in joins):
        return None
    paths = ", ".join(
        f"{first!r} reaches {sorted(joins)}" for first, joins in zip(firsts, reached, strict=True)
    )
    return (
        f"its branches can never meet at one Synchronize: {paths}; every branch of a split "
        "must arrive at the same join"
    )


def root_joins(wf: Workflow) -> frozenset[str]:
    """The joins a case's root reaches from ``wf.start`` as no split's branch.

    A split on the way is passed over through its joins (the root goes on from there);
    a join reached otherwise would fault the job ("reached a join without being a branch
    of a split").
    """
    return _reach(wf, (wf.start,), {}, set())


def _joins(
    wf: Workflow, split: str, known: dict[str, frozenset[str]], open_splits: set[str]
) -> frozenset[str]:
    """The joins ``split``'s branches reach, each nested split passed over by its joins."""
    if split in known:
        return known[split]
    if split in open_splits:  # a branch that reaches its own split again splits anew
        return frozenset()
    open_splits.add(split)
    known[split] = _reach(wf, wf.steps[split].targets(), known, open_splits)
    open_splits.discard(split)
    return known[split]


def _reach(
    wf: Workflow, roots: Iterable[str], known: dict[str, frozenset[str]], open_splits: set[str]
) -> frozenset[str]:
    """The first joins the paths from ``roots`` reach, nested splits passed over."""
    found: set[str] = set()
    seen: set[str] = set()
    todo = deque(roots)
    while todo:
        name = todo.popleft()
        if name in seen:
            continue
        seen.add(name)
        step = wf.steps[name]
        if isinstance(step, Synchronize | Discriminator):
            found.add(name)
        elif isinstance(step, ParallelSplit):  # the branch goes on from its own split's join
            for inner in _joins(wf, name, known, open_splits):
                todo.extend(wf.steps[inner].targets())
        else:
            todo.extend(step.targets())
    return frozenset(found)
