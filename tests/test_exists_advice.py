"""``JobExistsError`` says what the stored job with that id is, and how to run it again.

A case shed from a full ``DROP_OLDEST`` mailbox keeps its id, so scheduling it again was
refused with only "already exists"; the way to run it (a reset to its step) went unsaid.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until

from actors import FullMode, JobExistsError, JobState, Mediator, Sequential, Wait, Workflow
from actors.admin import Admin


def test_a_shed_faulted_done_or_waiting_id_says_what_it_is() -> None:
    busy, release = threading.Event(), threading.Event()

    def hold(data: Any) -> None:
        busy.set()
        assert release.wait(TIMEOUT)

    def fail(data: Any) -> None:
        raise RuntimeError("declined")

    flows = [
        Workflow("hold", [Sequential("a", hold)], start="a"),
        Workflow("fail", [Sequential("pay", fail)], start="pay"),
        Workflow(
            "nap", [Wait("rest", 3600, next="end"), Sequential("end", lambda d: None)], start="rest"
        ),
    ]
    options: dict[str, Any] = {"runners": 1, "capacity": 1, "full_mode": FullMode.DROP_OLDEST}
    with Mediator(flows, **options) as m:
        m.schedule("hold", {}, job_id="o1")
        assert busy.wait(TIMEOUT)
        shed = m.schedule("hold", {}, job_id="o2")
        m.schedule("hold", {}, job_id="o3")  # evicts o2
        assert shed.result(timeout=TIMEOUT).state is JobState.SHED
        release.set()
        assert m.schedule("fail", {}, job_id="f1").result(timeout=TIMEOUT).state is (
            JobState.FAULTED
        )
        m.schedule("nap", {}, job_id="n1")
        expected = {
            "o2": "(shed before it ran; to run it, reset it to step 'a': actors jobs retry JOB "
            "--from STEP, or Admin.retry(job, from_step=...))",
            "f1": "(faulted at step 'pay'; to run it again: actors jobs retry JOB, or Admin.retry)",
            "o1": "(done)",
        }
        for job_id, said in expected.items():
            with pytest.raises(JobExistsError) as refused:
                m.schedule("hold", {}, job_id=job_id)
            assert str(refused.value).endswith(said), str(refused.value)
        under_way = r"\((ready|running|waiting) at step 'rest': under way\)$"
        with pytest.raises(JobExistsError, match=under_way):
            m.schedule("nap", {}, job_id="n1")


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_shed_case_reset_to_its_step_runs_under_its_own_id(store: str, tmp_path: Any) -> None:
    """The advice holds: ``Admin.retry(id, from_step=...)`` runs a shed case after all."""
    busy, release = threading.Event(), threading.Event()

    def hold(data: Any) -> None:
        if data.get("hold"):
            busy.set()
            assert release.wait(TIMEOUT)
        data["ran"] = True

    flow = Workflow("hold", [Sequential("a", hold)], start="a")
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'jobs.db'}"
    options: dict[str, Any] = {"runners": 1, "capacity": 1, "full_mode": FullMode.DROP_OLDEST}
    with Mediator([flow], store=url, **options) as m:
        m.schedule("hold", {"hold": True}, job_id="o1")
        assert busy.wait(TIMEOUT)
        shed = m.schedule("hold", {"n": 2}, job_id="o2")
        m.schedule("hold", {"n": 3}, job_id="o3")  # evicts o2
        assert shed.result(timeout=TIMEOUT).state is JobState.SHED
        release.set()
        outcome = Admin.for_mediator(m, operator="ops").retry("o2", from_step="a")
        assert outcome.outcome == "reset", outcome
        wait_until(lambda: m.get_job("o2").state is JobState.DONE, "o2 to run after its reset")
        again = m.get_job("o2")
    assert again.data == {"n": 2, "ran": True}
    assert again.error is None
