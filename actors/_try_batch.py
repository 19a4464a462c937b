"""Tries of jobs taken over, counted in batches: a resumed wide split is not one commit a branch.

A job taken from a worker that stopped holding its case counts a try in the store before
it runs (see ``_runner_failures``). A runner about to count one counts, in the same
transaction, the tries of the next jobs taken over that wait in the work channel and have
no counted try from their saved point (``WorkChannel.batch_of``); they run side by side
anyway, so a death among them counts a try for each, as it would one at a time. A job
counted so, whose turn had not come when its worker died, has one try more than its
runs. That first try is never held against a job (``tried_too_often``): it runs alone in
the next worker (``solo``), and only its deaths while it runs alone count toward the
limit, so no job is faulted for deaths that were not its own. A batch is at most
``TRY_BATCH`` jobs, and counted jobs go first in line: a runner counts a batch only for
a job of its own that no batch counted (none counted waited when it took it), so at most
that many per runner wait counted, and a death leaves no more to run alone. While a solo
job waits or runs, each job counts its own try, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from actors._channel import WorkChannel
    from actors._job import JobRecord
    from actors.stores import Store

__all__ = ["TRY_BATCH", "count_tries"]

TRY_BATCH = 50
"""Jobs taken over whose tries a runner counts in one transaction, its own job's included."""


def count_tries(store: Store, channel: WorkChannel, job: JobRecord) -> tuple[int, bool]:
    """Count a try of ``job`` (taken over), with a batch of waiting ones; how many in a row.

    Returns the count and whether idle runners may be given the jobs counted with it
    (the caller tells the Scheduler). A try counted in another job's batch is read, not
    counted again.
    """
    tries = channel.counted_try(job.id)
    if tries is not None:
        return tries, False
    many = getattr(store, "count_tries", None)  # a store of the project's counts a batch
    others = channel.batch_of(TRY_BATCH - 1) if many is not None and not job.solo else []
    if many is None or not others:
        return store.count_try(job), False
    counts: dict[str, int] = {}
    try:
        counts = many([job, *others])
    finally:
        wake = channel.counted(others, counts)  # back in line, counted or not (an error)
    tries = counts.get(job.id)
    if tries is None:  # not counted: counted alone, it raises why (its case lost, ...)
        tries = store.count_try(job)
    return tries, wake
