"""What a worker on a shared store knows of its leases, between two renewals.

A plain object owned by the Scheduler (no actor, clock or store): the cases another
worker took over from this one, remembered for a while so late reports about their jobs
are ignored, and the jobs runners handed back unrun because the leases could not be
vouched for, made ready again after the next renewal unless their case was lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections import OrderedDict

    from actors._job import JobRecord

__all__ = ["Leases"]

LOST_MEMORY = 10_000  # lost case ids remembered, to ignore late reports about them


class Leases:
    """Cases lost to other workers, and jobs waiting for the next renewal.

    ``lost`` is the engine's set of lost cases (runners read it to stop before the next
    step of one); only this object changes it.
    """

    def __init__(self, lost: OrderedDict[str, None], memory: int = LOST_MEMORY) -> None:
        self.lost = lost
        self._memory = memory
        self._handed_back: dict[str, JobRecord] = {}

    def lose(self, case_id: str) -> None:
        """Another worker holds case ``case_id`` now; its jobs handed back are dropped."""
        self.lost[case_id] = None
        self.lost.move_to_end(case_id)
        for job_id in [k for k, v in self._handed_back.items() if v.case_id == case_id]:
            del self._handed_back[job_id]
        if len(self.lost) > self._memory:
            self.lost.popitem(last=False)

    def claim_back(self, case_id: str) -> None:
        """This worker holds case ``case_id`` again (claimed it after losing it)."""
        self.lost.pop(case_id, None)

    def hand_back(self, job: JobRecord) -> None:
        """A runner did not run ``job``: the leases could not be vouched for."""
        self._handed_back[job.id] = job

    @property
    def waiting(self) -> bool:
        """Whether jobs wait for a renewal (so every lease must be looked up)."""
        return bool(self._handed_back)

    def renewed(self) -> list[JobRecord]:
        """The leases were renewed: the jobs handed back since, whose case is still held."""
        jobs, self._handed_back = self._handed_back, {}
        return list(jobs.values())

    @staticmethod
    def must_look(renewed: int, held: int, *, everyone: bool) -> bool:
        """Whether to read who holds this worker's cases after a heartbeat.

        The heartbeat renews one lease per case this worker holds: renewing fewer than
        the ``held`` cases means some lease is gone; ``everyone`` means they may have
        lapsed (the worker was frozen past its deadline, or runners handed jobs back).
        """
        return everyone or renewed < held
