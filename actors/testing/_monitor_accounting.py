"""Invariant 1 of the DESIGN, checked by the ``Monitor``: every admitted job is accounted for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._job import JobRecord
from actors.stores import MemoryStore
from actors.stores._memory_saved import CASE, PARENT, STATE

if TYPE_CHECKING:
    from actors.testing._probe import Probe

__all__ = ["Accounting"]


class Accounting:
    """A mixin of ``Monitor``: the live jobs each held by someone, and each claimable.

    The monitor supplies the probe and the store's writer (``None`` unless it groups).
    """

    probe: Probe
    writer: Any

    def check_accounted(self) -> None:
        """Invariant 1, continuously: every live job in the store is held by someone."""
        probe = self.probe
        jobs, running = probe.jobs(), probe.running()
        missing = [jid for jid in probe.live_ids() if jid not in jobs and jid not in running]
        if not missing or probe.stopped():
            return  # the usual case, without collecting what every queue and inbox holds
        # Look for the others only, where they most often are first (a branch waiting for
        # a runner, a spawn in the Scheduler's inbox), and stop once all are found.
        left = set(missing)
        left.difference_update([j.id for j in probe.ready()])
        if left:
            left.difference_update([j.id for j in probe.queued()])
        if left:
            self._discard_sent(left)
        if left:
            for blocker in probe.runtime.blockers:
                left.difference_update(blocker.holds())
        if left and self.writer is not None:
            left.difference_update(self.writer.holds())
        lost = [jid for jid in missing if jid in left]
        assert not lost, (
            f"invariant 1: job(s) {lost} are unfinished in the store but no actor, queue "
            "or message holds them: they would never finish"
        )

    def check_claimable(self) -> None:
        """Invariant 1 after a crash: no unfinished job is stored under a final one.

        Workers claim cases by their unfinished roots: a case whose root (or a parent in
        it) were stored final over a live branch would be taken up by no worker if this
        one died now, and that branch would never end. Read from a memory store's rows.
        """
        store = self.probe.store
        if not isinstance(store, MemoryStore):
            return
        finished = store._finished
        for job_id, saved in store._live.items():
            for above in (saved[PARENT], saved[CASE]):
                if above is not None and above != job_id and above in finished:
                    state = finished[above][STATE]
                    raise AssertionError(
                        f"invariant 1: job {job_id} is unfinished in the store under job "
                        f"{above}, stored {state.value}: after a crash no claim would take "
                        "its case up again"
                    )

    def _discard_sent(self, left: set[str]) -> None:
        """Take from ``left`` the jobs a message waiting in some inbox carries."""
        for cell in self.probe.runtime.cells:
            for envelope in cell.inbox.queue:
                message = envelope.message
                job = getattr(message, "job", None)
                if isinstance(job, JobRecord):
                    left.discard(job.id)
                job = getattr(message, "parent", None)
                if isinstance(job, JobRecord):
                    left.discard(job.id)
                if not left:
                    return
