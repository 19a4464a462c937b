"""Jobs whose slices the store refuses every time: run alone, then faulted.

With ``commit="group"`` a runner's slice is stored by the store's writer, in one
transaction with other runners' slices; a runner whose slice was not stored reports
``SliceUnsaved`` and the Scheduler resumes the job from its last stored save. A store
outage (``store_down``) waits for the store instead, and a value the codec refuses
faults the job at once. Any other failure may be another job's: the whole group rolls
back when one of its rows is refused (a counter edited to its column's largest
integer, a join count edited into text), and every slice in it hears the same error.
But if it is the job's own, it comes back every time, and the job's steps and their
effects would run again without end.

So the Scheduler counts, per job, the slices in a row that were not stored. The first
is resumed as before. From the second on, the job runs ``alone``: nothing else of the
worker runs beside it (the work channel holds it as a solo job taken over from a dead
worker is held) and the store stores its slice in a transaction of its own, so a
failure then is certainly its own. After ``SOLO_TRIES`` such runs alone fail too, the
job ends ``FAULTED``, naming the store's error. A job that shared a refused group
with it is resumed (and run alone at worst) and goes on. A report of any other kind
about the job (a slice of it was stored) starts its count again. Failures that are
not the job's doing (an outage; the test harness's injected crashes, ``blames_job =
False``) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors import messages as m
from actors._redact import error_text

if TYPE_CHECKING:
    from actors._job import JobRecord

__all__ = ["NOT_STORED", "RUNS", "SOLO_TRIES", "Turn", "UnsavedSlices"]

NOT_STORED = frozenset({m.SliceUnsaved, m.LeaseUnvouched})
"""Reports on a job that store nothing of it: they leave its count as it is."""

SOLO_TRIES = 2
"""Runs alone whose slices are not stored either before the job faults."""

RUNS = 2 + SOLO_TRIES
"""How many times in all a job whose slice is refused every time runs its steps."""


@dataclass(frozen=True, slots=True)
class Turn:
    """How a job whose slice was not stored goes on: ``alone``, or ended with ``fault``."""

    alone: bool = False
    fault: str | None = None


_AGAIN = Turn()
_ALONE = Turn(alone=True)


class UnsavedSlices:
    """Slices not stored in a row, by job: a plain object owned by the Scheduler."""

    def __init__(self, solo_tries: int = SOLO_TRIES) -> None:
        self.solo_tries = solo_tries
        self.counts: dict[str, int] = {}
        """By job id: its slices in a row that were not stored (the Scheduler reads it)."""

    def failed(self, job: JobRecord, error: BaseException) -> Turn:
        """``job``'s slice was not stored (``error``, not an outage): how it goes on."""
        if getattr(error, "blames_job", True) is False:
            return _AGAIN  # not the job's doing (the harness's injected crashes)
        count = self.counts.get(job.id, 0) + 1
        if count < 2 + self.solo_tries:
            self.counts[job.id] = count
            return _AGAIN if count == 1 else _ALONE
        self.counts.pop(job.id, None)
        return Turn(
            fault=error_text(
                f"its steps ran {count} times and their saves could not be stored any "
                f"time, the last {self.solo_tries} times in a transaction of their own "
                f"(so not another job's doing); the store said: {type(error).__name__}: "
                f"{error}"
            )
        )

    def went_on(self, job_id: str) -> None:
        """A slice of the job was stored: its count starts again."""
        self.counts.pop(job_id, None)
