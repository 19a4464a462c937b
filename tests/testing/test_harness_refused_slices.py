"""Under the harness: a slice a group store refuses every time faults its job, at a bound.

The harness schedules the store's writer (``commit="group"``) like an actor, so the
refused slice shares groups with other runners' slices in whatever order the seed
picks. Whatever the order, the refused job's step runs ``RUNS`` times (once, again,
then alone ``SOLO_TRIES`` times) and it ends FAULTED; the other cases end DONE, and
the harness's checks (no job runs beside a solo one) hold after every delivery.
"""

from __future__ import annotations

import collections
import sqlite3

import pytest

from actors import JobState, Sequential, Workflow
from actors._unsaved_slices import RUNS, SOLO_TRIES
from actors.stores import SqliteStore
from actors.testing import Harness


class RefusingStore(SqliteStore):
    """A group store whose groups fail whole when one holds a runner's row of a poison job."""

    groups_refused: list[set[str]]

    def _store_group(self, slices):
        for part in slices:
            for *_, job in part.rows:
                if job.data.get("poison") and job.state is not JobState.READY:
                    if job.state is JobState.FAULTED:
                        continue  # the Scheduler's save of the fault: stored
                    error = self._error("store a group", sqlite3.IntegrityError("integer overflow"))
                    self.groups_refused.append({j.id for p in slices for *_, j in p.rows})
                    raise error
        return super()._store_group(slices)


@pytest.mark.parametrize("seed", range(6))
def test_a_refused_slice_faults_its_job_after_a_bounded_number_of_runs(tmp_path, seed):
    runs: collections.Counter[str] = collections.Counter()

    def note(data, ctx):
        runs[ctx.job_id] += 1

    flow = Workflow(
        "two", [Sequential("a", note, next="b"), Sequential("b", lambda d: None)], start="a"
    )
    store = RefusingStore(tmp_path / "jobs.db", commit="group")
    store.groups_refused = []  # the job ids of each group refused, in order
    try:
        with Harness([flow], seed=seed, store=store, runners=2) as h:
            innocent = [h.schedule("two", {"n": n}) for n in range(3)]
            poison = h.schedule("two", {"poison": True})
            ended = {job.id: job for job in h.finish()}
    finally:
        store.close()
    job = ended[poison.job_id]
    assert job.state is JobState.FAULTED
    assert f"the last {SOLO_TRIES} times in a transaction of their own" in job.error
    assert "integer overflow" in job.error
    assert runs[poison.job_id] == RUNS
    assert all(ended[h.job_id].state is JobState.DONE for h in innocent)
    assert store.groups_refused[-SOLO_TRIES:] == [{poison.job_id}] * SOLO_TRIES


def test_groups_the_harness_loses_never_fault_a_job(tmp_path):
    # An injected crash in a group is the test's doing (blames_job = False): the job's
    # slice is lost more times in a row than a refused one is run, and it ends DONE.
    from actors.stores import open_store
    from actors.testing import Crash, FaultPlan

    crashes = tuple(Crash(n, point="in_group") for n in range(1, 2 * RUNS + 1))
    flow = Workflow("one", [Sequential("a", lambda d: None)], start="a")
    store = open_store(f"sqlite:///{tmp_path}/jobs.db", commit="group")
    try:
        with Harness([flow], seed=0, store=store, runners=1, faults=FaultPlan(crashes)) as h:
            sub = h.schedule("one", {})
            [job] = h.finish()
    finally:
        store.close()
    assert job.id == sub.job_id
    assert job.state is JobState.DONE, job.error
    assert [e.action for e in h.trace].count("crash") == 2 * RUNS
