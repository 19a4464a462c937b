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
    assert _waiting_for(_waiting("gone", due=10.0), None, None) == ("an event or its timer", ())
    assert _waiting_for(_waiting("gone", due=None), None, None) == ("a timer or an event", ())


def test_a_known_wait_step_waits_for_its_timer():
    assert _waiting_for(_waiting("pause", due=10.0), FLOW, None) == ("its timer", ())


def test_a_takeover_shows_in_the_history_and_leaves_the_step_times_alone():
    from actors._admin_views import history
    from actors.stores._admin_types import HistoryRow, taken_over

    rows = [
        HistoryRow("j1", 1, "a", 1, "ready", 10.0, "w1", None, None),
        taken_over(("j1", "a", 1, "ready"), "w2", "w1", expired=True, at=25.0),
        HistoryRow("j1", 3, "b", 1, "running", 26.0, "w2", None, None, started=25.5),
    ]
    entries = history(rows)
    assert [(e.kind, e.worker) for e in entries] == [
        ("created", "w1"), ("takeover", "w2"), ("step", "w2"),
    ]  # fmt: skip
    assert entries[1].action == "taken over from w1 (its lease expired)"
    assert (entries[2].step, entries[2].started, entries[2].ended) == ("a", 25.5, 26.0)
