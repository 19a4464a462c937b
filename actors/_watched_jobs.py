"""Jobs taken over from a worker that stopped, and jobs that run alone: the work channel's rules.

The channel (``actors._channel``) holds them apart from its plain ready jobs and takes
its lock for every change to them: they are rare, and their rules (a solo job runs with
nothing beside it) need the whole picture at once.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from actors._job import JobState

if TYPE_CHECKING:
    from actors._job import JobRecord

__all__ = ["Watched"]


class Watched:
    """Jobs taken over from a worker that stopped, which count a try before they run.

    Not locked: the channel's lock guards it. A ``solo`` job (a counted try of it, from
    the point it is at, already ended with its worker) runs alone in the worker, so that
    if it ends this process too, the death is its own: it starts only once no job of the
    worker runs, and nothing starts beside it. While a solo job waits or runs
    (``holding``), the other jobs taken over run one at a time as well, and the worker's
    own jobs wait: they count no tries, but one that ended the process would end the
    solo job's try with it, and three such deaths would fault an innocent job. A solo
    job's try ends at its first save, which its runner stores at once (``tried``: from
    there it runs on unwatched), or with its slice, stored before the slice ends. The
    others run side by side, their tries counted in batches (``_try_batch``). A job
    whose slices the store refused runs alone the same way (``solo`` without a takeover:
    see ``actors._unsaved_slices``), for its whole slice, which its runner stores in a
    transaction of its own before it ends.
    """

    __slots__ = ("_solos", "counting", "counts", "holding", "solo_running", "waiting")

    def __init__(self) -> None:
        self.waiting: deque[JobRecord] = deque()  # ready, in the order they came
        # Jobs out of line while a runner counts their tries with its own job's (batch),
        # and the tries counted so for jobs not started yet, by id (see WorkChannel.batch_of).
        self.counting: list[JobRecord] = []
        self.counts: dict[str, int] = {}
        self._solos = 0  # solo jobs in ``waiting`` (cancelled ones too, until skipped)
        self.solo_running: str | None = None  # the id of the solo job running now
        # A solo job waits or runs: jobs start one at a time, with nothing beside them.
        # An attribute, not a property: the channel reads it on every put and take.
        self.holding = False

    def _hold(self) -> None:
        self.holding = self._solos > 0 or self.solo_running is not None

    def add(self, job: JobRecord) -> None:
        """``job`` (taken over) is ready to run."""
        if job.solo:
            if not self.holding:
                self.waiting.appendleft(job)  # it goes first, alone: the rest wait their turn
            else:
                self.waiting.append(job)
            self._solos += 1
            self.holding = True
        else:
            self.waiting.append(job)

    def next(self, busy: bool) -> JobRecord | None:
        """The next ready job to start, if it may start now (``_start`` it).

        ``busy``: a job of the worker runs now (any job, its own cases' too).
        """
        if busy and self.holding:
            return None  # one runs alone, or waits for the others to end
        while self.waiting:
            job = self.waiting.popleft()
            if job.solo:
                self._solos -= 1
            if job.state is not JobState.READY:  # cancelled while it waited
                self.counts.pop(job.id, None)
                continue
            if job.solo:
                self.solo_running = job.id
            self._hold()
            return job
        self._hold()
        return None

    def ended(self) -> None:
        """The solo job running left its runner, or stored its try's first save."""
        self.solo_running = None
        self._hold()

    def batch(self, most: int) -> list[JobRecord]:
        """Up to ``most`` waiting jobs with no try counted yet, taken out of line (see batch_of)."""
        if self.holding:
            return []
        out: list[JobRecord] = []
        kept: list[JobRecord] = []  # counted ones, put back first; cancelled ones dropped
        waiting, counts = self.waiting, self.counts
        while waiting and len(out) < most:
            job = waiting.popleft()
            if job.state is not JobState.READY:
                counts.pop(job.id, None)
            elif job.id in counts or not job.taken_over:
                kept.append(job)
            else:
                out.append(job)
        waiting.extendleft(reversed(kept))
        self.counting.extend(out)
        return out

    def back(self, batch: list[JobRecord], tries: dict[str, int]) -> None:
        """``batch`` is back in line, first; the tries counted for it noted by job id."""
        gone = {job.id for job in batch}
        self.counting = [job for job in self.counting if job.id not in gone]
        self.waiting.extendleft(reversed(batch))
        ready = [j for j in batch if j.id in tries and j.state is JobState.READY]  # not withdrawn
        self.counts.update((j.id, tries[j.id]) for j in ready)
