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
    from actors._workflow import Workflow

__all__ = ["split_join"]


def split_join(wf: Workflow, split: str) -> str | None:
    """The join step the branches of ``split`` reach, or ``None``: no join, or several.

    Several happen when a choice sends branches to different joins (a run that does
    faults: "all branches of a split must meet at one join"); no join is named then.
    """
    if not isinstance(wf.steps.get(split), ParallelSplit):
        return None
    joins = _joins(wf, split, {}, set())
    return next(iter(joins)) if len(joins) == 1 else None


def _joins(
    wf: Workflow, split: str, known: dict[str, frozenset[str]], open_splits: set[str]
) -> frozenset[str]:
    """The joins ``split``'s branches reach, each nested split passed over by its joins."""
    if split in known:
        return known[split]
    if split in open_splits:  # a branch that reaches its own split again splits anew
        return frozenset()
    open_splits.add(split)
    found: set[str] = set()
    seen: set[str] = set()
    todo = deque(wf.steps[split].targets())
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
    open_splits.discard(split)
    known[split] = frozenset(found)
    return known[split]
