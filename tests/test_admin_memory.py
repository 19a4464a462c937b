"""actors.admin on memory://: actions on a Mediator's private store go through the Mediator."""

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobNotFoundError, JobState, Mediator, RequestReaction, Sequential, Wait, Workflow
from actors.admin import ActionRefusedError, Admin
from actors.stores import MemoryStore

BROKEN = {"pay": True}


def pay(data):
    if BROKEN["pay"]:
        raise RuntimeError("card declined")
    data["paid"] = True


FLOW = Workflow(
    "order",
    start="pay",
    steps=[
        Sequential("pay", pay, next="ask"),
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r)),
    ],
)


def test_retry_event_and_cancel_on_a_memory_store_through_its_mediator():
    BROKEN["pay"] = True
    with Mediator([FLOW], store="memory://") as mediator:
        assert mediator.schedule("order", {}, job_id="o1").result(timeout=TIMEOUT).state is (
            JobState.FAULTED
        )
        admin = Admin.for_mediator(mediator, operator="mo")
        assert [j.id for j in admin.jobs(state="faulted").items] == ["o1"]
        BROKEN["pay"] = False
        assert admin.retry("o1").outcome == "retried"  # the Mediator takes the case at once
        with pytest.raises(ActionRefusedError, match="unfinished"):
            admin.retry("o1", from_step="pay")
        # the runner parks it at ask
        wait_until(lambda: admin.job("o1").state is JobState.WAITING, "o1 to park at ask")
        delivered = admin.send_event("o1/ask", 42)
        assert delivered.outcome == "delivered"
        assert delivered.via == "mediator"
        # The event was given to the Mediator; it may still be running the case: its
        # next answer to the same id is a duplicate.
        assert admin.send_event("o1/ask", 43).outcome in ("duplicate", "finished")
        waiting = mediator.schedule("order", {}, job_id="o2")
        assert admin.cancel("o2").outcome == "cancelled"
        assert waiting.result(timeout=TIMEOUT).state is JobState.CANCELLED
        actions = [e.action for e in admin.history("o1") if e.kind == "action"]
        assert actions[0] == "retry of step 'pay' (attempt 2)"
        assert actions[1] == "event o1/ask (delivered, by mediator)"
        # Recorded by the Scheduler before the job it readied reached a runner: ahead of
        # the step the event let run, with the job's state before that step.
        wait_until(lambda: admin.job("o1").state is JobState.DONE, "o1 to finish")
        seen = [(e.kind, e.state, e.action) for e in admin.history("o1")]
        event = seen.index(("action", "ready", "event o1/ask (delivered, by mediator)"))
        # The duplicate sent after it may be recorded before or after that step ran.
        after = [entry for entry in seen[event + 1 :] if entry[0] != "action"]
        assert after[0][:2] == ("step", "done"), seen
        assert admin.history("o1")[0].kind == "created"


def test_a_wait_in_the_history_lasts_from_its_save_until_a_runner_took_the_job_up_again():
    from actors._admin_views import history
    from actors.stores._admin_types import HistoryRow

    def row(seq, step, state, at, started=None):
        return HistoryRow("p", seq, step, 1, state, at, "w1", None, None, started)

    entries = history(
        [
            row(1, "fan_out", "ready", 10.0),
            row(2, "fan_out", "waiting", 10.5, started=10.1),  # split: waits for its branches
            row(3, None, "done", 14.02, started=14.0),  # join released it; the join's run
        ]
    )
    assert [e.kind for e in entries] == ["created", "step", "waited"]
    waited = entries[2]
    assert (waited.step, waited.started, waited.ended) == ("fan_out", 10.5, 14.0)
    assert waited.duration == pytest.approx(3.5)
    # Rows written before step starts were recorded: the wait ends at the next save.
    old = history(
        [row(1, "w", "ready", 1.0), row(2, "w", "waiting", 2.0), row(3, None, "done", 5.0)]
    )
    assert (old[2].started, old[2].ended) == (2.0, 5.0)


def test_several_jobs_and_histories_read_together_are_each_as_read_alone():
    BROKEN["pay"] = False
    with Mediator([FLOW], store="memory://") as mediator:
        for n in range(3):
            mediator.schedule("order", {}, job_id=f"o{n}")
        admin = Admin.for_mediator(mediator)
        ids = ["o2", "nobody", "o0", "o1"]
        wait_until(
            lambda: all(admin.job(i).state is JobState.WAITING for i in ids if i != "nobody"),
            "every order to park at ask",
        )
        infos = admin.job_infos(ids)
        assert list(infos) == ["o2", "o0", "o1"]  # in the order asked, the missing left out
        assert infos == {job_id: admin.job(job_id) for job_id in infos}
        histories = admin.histories(ids)
        assert histories == {job_id: admin.history(job_id) for job_id in infos} | {"nobody": []}
        assert list(histories) == ids


NAP = Workflow(
    "nap",
    start="nap",
    steps=[Wait("nap", duration=3600, next="done"), Sequential("done", lambda d: None)],
)


def test_an_event_for_a_job_whose_step_takes_none_is_unknown_where_the_workflow_is_known():
    """A reply sent by hand to a job parked at a Wait was stored, and dropped by the Wait."""
    store = MemoryStore()
    with Mediator([NAP], store=store) as mediator:
        mediator.schedule("nap", {}, job_id="n1")
        wait_until(lambda: mediator.get_job("n1").state is JobState.WAITING, "n1 to park")
    with Admin(store, workflows=[NAP]) as admin:
        assert admin.send_event("n1/nap", "hello").outcome == "unknown"
        assert admin.job("n1").state is JobState.WAITING
    assert store.load("n1").event is None  # nothing was stored


@pytest.mark.parametrize("bad", [None, 5, b"c1"])
def test_an_id_that_is_no_str_is_a_type_error(bad):
    with Admin("memory://") as admin:
        for action in (admin.job, admin.case, admin.history, admin.cancel, admin.retry):
            with pytest.raises(TypeError, match="a job id is a str, got"):
                action(bad)


def test_a_missing_id_that_breaks_the_id_rule_says_so():
    with Admin("memory://") as admin:
        with pytest.raises(JobNotFoundError, match=r"no job 'a/b' in memory://") as found:
            admin.cancel("a/b")
        assert "a job id is a non-empty string without '/'" in str(found.value)
        with pytest.raises(JobNotFoundError) as found:
            admin.cancel("ab")
        assert "a job id is" not in str(found.value)


def test_admin_refuses_two_different_workflows_of_one_name_and_version():
    changed = Workflow("order", start="z", steps=[Sequential("z", pay)])  # version= not raised
    # Its checks (a reset's step, the ids a job waits on) would use the last one given.
    with pytest.raises(ValueError, match="workflow 'order' version 1 is given twice"):
        Admin(MemoryStore(), workflows=[FLOW, changed])
    Admin(MemoryStore(), workflows=[FLOW, FLOW]).close()  # the same one twice is one


def _changed_order() -> Workflow:
    return Workflow("order", start="z", steps=[Sequential("z", pay)])


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({"workflows": "twice"}, "is given twice"),
        ({"timeout": -1.0}, "timeout"),
    ],
)
def test_admin_refusing_an_argument_opens_no_store(monkeypatch, bad, said):
    """A refusal came after the store's URL was opened, and nothing closed that store."""
    import actors.admin as admin_module

    opened: list[str] = []
    monkeypatch.setattr(admin_module, "open_store", opened.append)
    if bad.get("workflows") == "twice":
        bad = {"workflows": [FLOW, _changed_order()]}
    with pytest.raises(ValueError, match=said):
        Admin("sqlite:///never-opened.db", **bad)
    assert opened == []
