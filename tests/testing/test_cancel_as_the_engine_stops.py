"""Under the harness: a cancel handled after a non-draining shutdown began is stored.

``shutdown(drain=False)`` sets the engine's stop at once; a runner that takes a case
then saves it as it was (to resume on the next start) and reports nothing, and the
Scheduler may still handle a cancel of that case before its own stop. The cancel is
answered ``CANCELLED``: its mark must be in the store, or the next start runs the case
on to ``DONE``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import EngineStoppedError, JobState, Sequential, Workflow
from actors._outcomes import CancelOutcome
from actors.stores import SqliteStore
from actors.testing import Harness

FLOW = Workflow("one", [Sequential("last", lambda d: None)], "last")


@pytest.mark.parametrize("commit", ["step", "group"])
def test_a_cancel_answered_as_the_engine_stops_cancels_the_case_on_the_next_start(
    tmp_path: Path, commit: str
) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteStore(path, commit=commit)
    answers: list[object] = []
    try:
        with Harness([FLOW], seed=0, runners=1, store=store) as h:
            h.at(0, lambda: h.schedule("one", {}, job_id="c"))
            h.at(0, lambda: answers.append(h.cancel("c")))
            h.at(0, lambda: h.mediator.shutdown(drain=False))
            with pytest.raises(EngineStoppedError):
                h.finish()
            # The runner saved the case to resume before the Scheduler read the cancel.
            order = [(e.actor, e.action) for e in h.trace]
            assert order.index(("runner-0", "RunJob")) < order.index(("scheduler", "CancelJob"))
    finally:
        store.close()
    assert answers[0].get() is CancelOutcome.CANCELLED  # type: ignore[attr-defined]
    store = SqliteStore(path, commit=commit)
    try:
        with Harness([FLOW], seed=0, store=store) as again:  # the next start
            again.run_until_quiescent()
        job = store.get("c")
        assert job is not None and job.state is JobState.CANCELLED, job
    finally:
        store.close()
