"""What an operator's view says a waiting job waits for."""

from actors import JobState, Sequential, Wait, Workflow
from actors._admin_views import _waiting_for
from actors._job import JobRecord

FLOW = Workflow("w", start="pause", steps=[
    Wait("pause", duration=60, next="end"),
    Sequential("end", lambda d: None),
])  # fmt: skip


def _waiting(step: str | None, due: float | None) -> JobRecord:
    return JobRecord("j1", "j1", "w", 1, step, {}, state=JobState.WAITING, due=due)


def test_a_job_of_an_unknown_workflow_waits_for_an_event_or_its_timer_once_each():
    assert _waiting_for(_waiting("gone", due=10.0), None) == ("an event or its timer", ())
    assert _waiting_for(_waiting("gone", due=None), None) == ("a timer or an event", ())


def test_a_known_wait_step_waits_for_its_timer():
    assert _waiting_for(_waiting("pause", due=10.0), FLOW) == ("its timer", ())
