"""When the crash tests kill a worker, and what each kill hit, read from the stores outside.

The kills follow the work, not the clock, and the work follows the kills: the cases are
enqueued in ``kills + 1`` parts (``parts``), one part after each kill, and kill ``k``
comes once a third of part ``k``'s jobs (cases and branches) are done (``wait_for_work``),
so the workers are busy with a part at every kill, from the first case on, however fast
the store or loaded the machine is (on PostgreSQL the work once ran ahead of the kills,
and the last of them hit idle workers).

What a kill hit is read once the worker is dead and before its lease can run out (no
other worker has taken its cases yet): the unfinished jobs stamped with its name, and
which of them had a step in flight, one it had begun (the effects database records every
run with the worker's pid) that no stored save shows done (``hits``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from bounds import TIMEOUT

from actors import JobState
from actors.admin import Admin, JobInfo
from actors.stores import open_store

__all__ = ["Hit", "hits", "parts", "wait_for_work"]

UNFINISHED = (JobState.READY, JobState.RUNNING, JobState.WAITING)


def parts(ids: list[str], n: int) -> list[list[str]]:
    """``ids`` cut in ``n`` parts of about the same size, in order."""
    return [ids[k * len(ids) // n : (k + 1) * len(ids) // n] for k in range(n)]


def wait_for_work(url: str, done_jobs: int) -> None:
    """Wait until ``done_jobs`` jobs are DONE in the store at ``url``."""
    store = open_store(url)
    deadline = time.monotonic() + 2 * TIMEOUT
    try:
        while store.counts()[JobState.DONE] < done_jobs:
            if time.monotonic() > deadline:
                pytest.fail(f"fewer than {done_jobs} jobs done after {2 * TIMEOUT} s")
            time.sleep(0.02)  # polling a database from outside; nothing to wait on
    finally:
        store.close()


@dataclass(frozen=True)
class Hit:
    """What one kill hit: unfinished cases and jobs the worker held, steps in flight."""

    cases: int
    jobs: int
    in_flight: int


def hits(
    admin: Admin, runs: list[tuple[str, str, int]], order: Mapping[str, float]
) -> dict[int, Hit]:
    """What each worker holds now, by pid: read from the store and ``runs``.

    ``runs``: every (job, step, pid) run in the order they began. A job's step is in
    flight when its worker's last run of the job is of a step its stored save does not
    show done (at or past the job's saved step). Read after a worker died and before its
    lease ran out, this is what the kill hit (no other worker has taken its cases yet).
    """
    last: dict[tuple[int, str], str] = {(pid, job): step for job, step, pid in runs}
    out: dict[int, Hit] = {}
    held: dict[int, list[JobInfo]] = {}
    for job in admin.jobs(state=UNFINISHED, limit=100_000).items:
        # A worker's name is host:pid:random (see _engine._default_owner).
        parts = (job.owner or "").split(":")
        if len(parts) >= 3 and parts[-2].isdigit():
            held.setdefault(int(parts[-2]), []).append(job)
    for pid, jobs in held.items():
        in_flight = sum(
            1
            for job in jobs
            if (pid, job.id) in last
            and job.step is not None
            and order[last[pid, job.id]] >= order[job.step]
        )
        out[pid] = Hit(len({job.case_id for job in jobs}), len(jobs), in_flight)
    return out
