"""A runner's slice handed to the store's writer thread: reported once it is stored.

With a store that commits in the background (``background_commit``), a runner hands its
slice to the writer and goes on; the writer calls ``report_stored`` when the slice's
transaction ends, and it is then that the Scheduler hears of the slice: what it reports
is stored first, as with any other store.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._errors import LeaseLostError
from actors._runner_failures import log_lost

if TYPE_CHECKING:
    from actors._channel import WorkChannel
    from actors._job import JobRecord

__all__ = ["report_stored"]


def report_stored(
    channel: WorkChannel,
    scheduler: pykka.ActorRef[Any],
    index: int,
    job: JobRecord,
    outcome: list[Any],
    key: object,
    error: BaseException | None,
) -> None:
    """On the store's writer thread: runner ``index``'s slice was stored (or not); report it."""
    # Stored, or never to be: no longer a copy on its way (its reports, told below, are
    # known by their record should its case have been lost: StaleCopies).
    channel.storing.pop(key, None)
    if isinstance(error, LeaseLostError):
        log_lost(job, error)
        outcome = [m.CaseLost(index, job, error)]
    elif error is not None:
        outcome = [m.SliceUnsaved(index, job, error)]
    channel.sent[-1] += len(outcome) - 1  # the writer's slot: one was counted
    with contextlib.suppress(pykka.ActorDeadError):  # the engine stopped meanwhile
        for msg in outcome:
            scheduler.tell(msg)
        if not outcome and channel.drain_requested:
            # The backlog shrank with no report to show it: a draining shutdown
            # would otherwise wait for a message that never comes.
            scheduler.tell(m.RunnerIdle(index))
