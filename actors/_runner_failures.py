"""Jobs that kill every runner, or every worker, they are given: after a few, they fault.

A runner that dies (an exception the engine did not expect escaped its loop) is
restarted, and its job resumes from its last saved step on another runner. When the job
itself is what kills runners (a value no store can write, a bug the engine meets only
with that job's data), resuming it kills the next runner the same way, for ever: one
case would keep a runner dying and the log filling while the others wait. So the
Scheduler counts, per job, the runner deaths at the same point (the job's step and
attempt as the runner held it); the ``LIMIT``-th ends the job FAULTED instead of
resuming it, naming what the runners died of. Any report from the job's runner (the job
got through a slice) clears its count. A death whose exception says ``blames_job = False``
(the test harness's injected crashes: the test's doing, not the job's) is not counted.

A step that ends its worker's *process* (``os._exit``, a crash in native code, the
kernel's OOM killer) leaves nothing in the process to count with. Its case's lease runs
out, another worker takes the case over, runs the step, and ends too: every worker, for
ever. So a job taken from a worker that stopped holding its case is counted in the store
(``Store.count_try``) before each run. Its first try from a saved point runs beside other
jobs (or waits, counted in a batch, for its turn), so a death then may be any job's; each
later try runs alone (``_watched_jobs.Watched``), so a death then is its own. The run after
``LIMIT`` tries alone in a row at the same saved point, each ended with its worker gone,
ends it FAULTED (``tried_too_often``): deaths beside other jobs are never counted.

A save fenced because another worker took the case over is no failure of the runner:
it reports the case lost (``case_lost``) and runs its next job.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._engine import job_log, logger
from actors._errors import LeaseLostError
from actors._try_batch import count_tries

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._engine import EngineConfig
    from actors._job import JobRecord
    from actors.stores import Store

__all__ = [
    "LIMIT",
    "RunnerFailures",
    "case_lost",
    "count_try",
    "died_of",
    "log_lost",
    "tried_too_often",
]

LIMIT = 3
"""Runner deaths in a row at one step of one job that fault the job; worker deaths too,
counted only while the job ran alone."""


_SHOWN = 500  # characters of what a runner died of that a fault's reason quotes


def died_of(exc: BaseException) -> str:
    """What a runner died of, as a job's error quotes it: ``Type: message``, cut short."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class RunnerFailures:
    """Runner deaths in a row by job: a plain object owned by the Scheduler."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.counts: dict[str, tuple[tuple[str | None, int], int]] = {}
        """By job id: where its runners died (step, attempt) and how many in a row."""

    def died(self, job: JobRecord, error: str) -> str | None:
        """A runner died of ``error`` holding ``job``: the reason to fault it now, if it is time."""
        where = (job.step, job.attempt)
        before = self.counts.get(job.id)
        count = before[1] + 1 if before is not None and before[0] == where else 1
        if count < self.limit:
            self.counts[job.id] = (where, count)
            return None
        self.counts.pop(job.id, None)
        return (
            f"{count} runners in a row died while running it (at step {job.step!r}); the "
            f"last died of {error or 'an error it did not name'}"
        )

    def went_on(self, job_id: str) -> None:
        """The job's runner reported on it: it got through, so its count starts again."""
        self.counts.pop(job_id, None)


def tried_too_often(job: JobRecord, tries: int, limit: int = LIMIT) -> str | None:
    """The reason to fault ``job`` instead of its ``tries``-th run in a row, if it is time.

    ``tries`` counts the runs of the job (taken over) from its saved point, this one
    included: the ones before it each ended with the worker that ran it gone. The first
    ran beside other jobs, so its death is not held against the job; each later one ran
    alone. So it is time once ``limit`` runs alone ended so: ``tries - 2`` of them.
    """
    alone = tries - 2
    if alone < limit:
        return None
    return (
        f"the last {tries - 1} workers to run it from step {job.step!r} (attempt "
        f"{job.attempt}) stopped before anything was saved (their processes died or froze), "
        f"the last {alone} while it ran alone; a step that ends its process (os._exit, a "
        "crash in native code, running out of memory) does this, so it is not run again"
    )


def count_try(engine: EngineConfig, job: JobRecord, wake: Callable[[], None]) -> str | None:
    """Count a try of ``job`` (taken over) in the store; the reason to fault it instead, if any.

    ``wake()`` tells the Scheduler that idle runners may be given the jobs whose tries
    were counted with it (``_try_batch``).
    """
    tries, counted_others = count_tries(engine.store, engine.channel, job)
    if counted_others:
        with contextlib.suppress(pykka.ActorDeadError):  # the engine stopped meanwhile
            wake()
    why = tried_too_often(job, tries)
    if why is None:
        job.taken_over = job.solo = False  # once per takeover: later slices follow its saves
    # else kept: the fault is saved next, and if that save is not stored, the job taken
    # back as last saved counts a try again (and faults) rather than run this one.
    if tries > 1:
        logger.warning(
            "job %s: try %d in a row from step %r; the workers of the tries before "
            "stopped before it saved anything",
            job.id,
            tries,
            job.step,
            extra=job_log(job),
        )
    return why


def case_lost(store: Store, index: int, job: JobRecord, exc: LeaseLostError) -> list[Any]:
    """A save was fenced: another worker holds the case now. The report that says so.

    Nothing of the slice was written (the fenced transaction rolled back), and the
    runner stays alive: the job is simply no longer this worker's to run.
    """
    with contextlib.suppress(LeaseLostError):
        store.end_slice()  # whatever the slice still groups is fenced too
    log_lost(job, exc)
    return [m.CaseLost(index, job, exc)]


def log_lost(job: JobRecord, exc: LeaseLostError) -> None:
    """Say that ``job``'s case was taken over, and by whom."""
    logger.warning(
        "job %s: case %s was taken over by worker %r; this worker stops running it",
        job.id,
        exc.case_id,
        exc.owner,
        extra=job_log(job),
    )
