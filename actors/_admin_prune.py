"""``Admin.prune``: the finished cases deleted, then (if asked) old history trimmed.

The store deletes the cases a batch per transaction, each case whole, and tells
``batch_done`` of each batch once it is stored: a caller counts what is gone as it
goes, and a true answer (the operator's Ctrl-C, say) stops the prune between two
batches, with the history then left untrimmed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from actors._admin_model import PruneResult
from actors._seconds import seconds_option
from actors.stores import Store

__all__ = ["prune"]


def prune(
    store: Store,
    older_than: float,
    *,
    trim_history: bool,
    batch_done: Callable[[int, int], object] | None,
) -> PruneResult:
    """What ``Admin.prune`` does (see there)."""
    # NaN pruned nothing, 1e400 raised OverflowError and "7d" a TypeError: refused alike.
    before = time.time() - seconds_option("older_than", older_than)
    stopped = False

    def done(cases: int, jobs: int) -> bool:
        nonlocal stopped
        stopped = batch_done is not None and bool(batch_done(cases, jobs))
        return stopped

    cases, jobs = store.prune_cases(before, done)
    trim = trim_history and not stopped
    rows, branches = store.trim_history(before) if trim else (0, 0)
    return PruneResult(cases, jobs, before, rows, branches)
