"""End to end: the engine runs on the durable stores and resumes what a run left behind."""

import threading
from dataclasses import dataclass

import pytest
from bounds import TIMEOUT
from flows import counting_flow
from records import record

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.stores import open_store, register_dataclass


@register_dataclass
@dataclass
class Receipt:
    paid: int


def reserve(data):
    data["reserved"] = True


def pay(data):
    data["receipt"] = Receipt(paid=data["order_id"] * 10)


def ship(data):
    data["shipped"] = True


def combine(parent, branches):
    for branch in branches:
        parent.update(branch)
    return parent


def confirm(data):
    data["confirmed"] = True


def order_flow():
    return Workflow(
        "order",
        start="reserve",
        steps=[
            Sequential("reserve", reserve, next="fan_out"),
            ParallelSplit("fan_out", branches=["pay", "ship"]),
            Sequential("pay", pay, next="join"),
            Sequential("ship", ship, next="join"),
            Synchronize("join", merge=combine, next="confirm"),
            Sequential("confirm", confirm),
        ],
    )


@pytest.fixture
def store_url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def test_split_and_join_run_to_done_on_a_durable_store(store_url):
    with Mediator([order_flow()], runners=4, store=store_url) as mediator:
        handles = [mediator.schedule("order", {"order_id": i}) for i in range(1, 6)]
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
        for i, job in enumerate(jobs, start=1):
            assert job.state is JobState.DONE, job.error
            assert job.data["receipt"] == Receipt(paid=i * 10)
            assert job.data["shipped"]
            assert job.data["confirmed"]
            assert job.data["reserved"]
        stored = mediator.get_job(jobs[0].id)
        assert stored.state is JobState.DONE
        assert stored.data["receipt"] == Receipt(paid=10)  # decoded back into the dataclass
        counts = mediator.store.counts()
    assert counts[JobState.DONE] == 15  # 5 parents + 10 branches
    assert sum(counts.values()) == 15


def _resumable_flow(reached):
    def mark(data):
        data["resumed"] = True
        reached.set()

    return Workflow(
        "order",
        start="reserve",
        steps=[
            Sequential("reserve", reserve, next="fan_out"),
            ParallelSplit("fan_out", branches=["pay", "ship"]),
            Sequential("pay", pay, next="join"),
            Sequential("ship", ship, next="join"),
            Synchronize("join", merge=combine, next="confirm"),
            Sequential("confirm", mark),
        ],
    )


def test_a_second_mediator_resumes_a_job_left_ready(store_url):
    store = open_store(store_url)
    store.create(record("left-behind", workflow="order", step="reserve", data={"order_id": 4}))
    store.close()
    reached = threading.Event()
    with Mediator([_resumable_flow(reached)], runners=2, store=store_url):
        assert reached.wait(TIMEOUT)
    check = open_store(store_url)
    job = check.get("left-behind")
    assert job.state is JobState.DONE, job.error
    assert job.data["receipt"] == Receipt(40)
    assert job.data["resumed"]
    assert job.data["shipped"]
    assert check.unfinished() == []
    check.close()


def test_a_split_resumes_each_branch_from_its_last_saved_step(store_url):
    # What a crashed run leaves: the parent WAITING on its split with branch 0 arrived,
    # branch 1 saved RUNNING after its first step.
    store = open_store(store_url)
    parent = record(
        "p",
        workflow="order",
        step="fan_out",
        data={"order_id": 2, "reserved": True},
        state=JobState.WAITING,
        split_step="fan_out",
        split_total=2,
        gen=1,
    )
    parent.arrivals = {0: {"order_id": 2, "reserved": True, "receipt": Receipt(20)}}
    parent.join_step = "join"
    store.create(parent)
    done_branch = record(
        "p.0",
        case_id="p",
        workflow="order",
        step="join",
        data=dict(parent.arrivals[0]),
        state=JobState.DONE,
        parent_id="p",
        branch_index=0,
        parent_gen=1,
    )
    running_branch = record(
        "p.1",
        case_id="p",
        workflow="order",
        step="ship",
        data={"order_id": 2, "reserved": True},
        state=JobState.RUNNING,
        parent_id="p",
        branch_index=1,
        parent_gen=1,
    )
    store.create(done_branch)
    store.create(running_branch)
    store.close()
    reached = threading.Event()
    with Mediator([_resumable_flow(reached)], runners=2, store=store_url):
        assert reached.wait(TIMEOUT)
    check = open_store(store_url)
    job = check.get("p")
    assert job.state is JobState.DONE, job.error
    assert job.data["receipt"] == Receipt(20)
    assert job.data["shipped"]
    assert job.data["resumed"]
    assert check.get("p.1").state is JobState.DONE
    check.close()


def test_a_parked_timer_survives_a_restart(store_url, tmp_path):
    reached = threading.Event()

    def after(data):
        data["woke"] = True
        reached.set()

    flow = Workflow(
        "nap",
        start="nap",
        steps=[Wait("nap", duration=0.05, next="after"), Sequential("after", after)],
    )
    store = open_store(store_url)
    store.create(
        record(
            "napper",
            workflow="nap",
            step="nap",
            data={},
            state=JobState.WAITING,
            due=0.0,  # long overdue: the next Mediator releases it at once
        )
    )
    store.close()
    with Mediator([flow], runners=1, store=store_url):
        assert reached.wait(TIMEOUT)
    check = open_store(store_url)
    assert check.get("napper").state is JobState.DONE
    check.close()


class Opaque:
    """Not JSON and not a registered dataclass: the codec refuses it."""


def test_a_step_leaving_unstorable_data_faults_its_job_and_the_runner_goes_on(store_url):
    def bad(data):
        data["handle"] = Opaque()

    flows = [
        Workflow("bad", [Sequential("ok", reserve, next="bad"), Sequential("bad", bad)], "ok"),
        Workflow("good", [Sequential("ok", reserve)], "ok"),
    ]
    with Mediator(flows, runners=1, store=store_url) as mediator:
        job = mediator.schedule("bad", {}).result(timeout=TIMEOUT)
        after = mediator.schedule("good", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert "data cannot be stored" in job.error
    assert job.data == {"reserved": True}  # as last saved
    assert after.state is JobState.DONE


def test_a_row_naming_an_unknown_workflow_is_left_untouched_and_the_worker_goes_on(store_url):
    store = open_store(store_url)
    for name, state in (("ghost", JobState.WAITING), ("ghost2", JobState.READY)):
        store.create(
            record(
                name,
                workflow="no-such-flow",
                step="x",
                data={},
                state=state,
                due=1.0,
            )
        )
    store.close()
    with Mediator([order_flow()], runners=2, store=store_url) as mediator:
        job = mediator.schedule("order", {"order_id": 1}).result(timeout=TIMEOUT)
        assert mediator.get_job("ghost").state is JobState.WAITING
        assert mediator.get_job("ghost2").state is JobState.READY
        assert mediator.store.lease_owners(["ghost", "ghost2"]) == {"ghost": None, "ghost2": None}
    assert job.state is JobState.DONE


def test_a_job_of_a_version_this_process_lacks_is_left_for_another(store_url):
    store = open_store(store_url)
    store.create(record("v9", workflow="order", version=9, step="reserve", data={}))
    store.close()
    with Mediator([order_flow()], runners=1, store=store_url) as mediator:
        assert mediator.get_job("v9").state is JobState.READY
        assert mediator.stats().ready == 0


def _approval():
    from actors import RequestReaction

    asked = threading.Event()

    def ask(data, ctx):
        data_ids.append(ctx.correlation_id)
        asked.set()

    data_ids: list = []
    flow = Workflow(
        "approve",
        [
            RequestReaction("ask", send=ask, on_reply=lambda d, r: d.update(answer=r), next="done"),
            Sequential("done", lambda d: d.update(done=True)),
        ],
        start="ask",
    )
    return flow, asked, data_ids


def test_an_event_for_a_case_parked_in_the_database_resumes_it_on_another_worker(store_url):
    from actors import EventOutcome

    flow, asked, cids = _approval()
    with Mediator([flow], runners=1, store=store_url) as first:
        handle = first.schedule("approve", {})
        assert asked.wait(TIMEOUT)
    # The first worker stopped (its lease released); the case waits in the database.
    with Mediator([flow], runners=1, store=store_url, poll_interval=60) as second:
        assert second.receive_event(cids[0], "yes") is EventOutcome.DELIVERED
        assert second.receive_event(cids[0], "again") is EventOutcome.DUPLICATE
    check = open_store(store_url)
    job = check.get(handle.job_id)
    check.close()
    assert job.state is JobState.DONE
    assert job.data == {"answer": "yes", "done": True}


def test_an_event_for_a_case_another_live_worker_holds_says_so(store_url):
    from actors import EventOutcome

    flow, asked, cids = _approval()
    with Mediator([flow], runners=1, store=store_url) as owner:
        handle = owner.schedule("approve", {})
        assert asked.wait(TIMEOUT)
        with Mediator([flow], runners=1, store=store_url, poll_interval=60) as other:
            assert other.receive_event(cids[0], "yes") is EventOutcome.ELSEWHERE
        assert owner.receive_event(cids[0], "yes") is EventOutcome.DELIVERED
        assert handle.result(timeout=TIMEOUT).data == {"answer": "yes", "done": True}


def test_cases_enqueued_as_a_batch_are_written_together_and_run_by_a_worker(store_url):
    from actors import CodecError, JobExistsError, enqueue_many

    flow, ran, wait_for = counting_flow()
    names = [f"o{i}" for i in range(20)]
    assert enqueue_many(store_url, flow, [{"n": i} for i in range(20)], job_ids=names) == names
    # All or none: one id taken, or one item that cannot be stored, writes nothing.
    with pytest.raises(JobExistsError, match="'o19' first; the whole batch is refused"):
        enqueue_many(store_url, flow, [{"n": 1}, {"n": 2}], job_ids=["o20", "o19"])
    with pytest.raises(CodecError, match="batch item 1: "):
        enqueue_many(store_url, flow, [{"n": 1}, {"n": {1, 2}}], job_ids=["o21", "o22"])
    check = open_store(store_url)
    try:
        assert check.existing(["o20", "o21", "o22"]) == set()
        with Mediator([flow], runners=2, capacity=50, store=store_url):
            wait_for(20)
        assert sorted(ran) == list(range(20))
        assert all(check.get(name).state is JobState.DONE for name in names)
    finally:
        check.close()


def test_cancel_of_a_case_of_a_version_this_mediator_does_not_serve_cancels_it(store_url):
    """It said CANCELLED and left the case to run on (on a worker serving its version)."""
    from bounds import wait_until

    from actors import CancelOutcome

    ran: list[int] = []

    def flow(version):
        return Workflow(
            "ver",
            start="w",
            version=version,
            steps=[Wait("w", 3600, next="x"), Sequential("x", lambda d: ran.append(version))],
        )

    with Mediator([flow(1)], store=store_url, owner="a") as first:
        first.schedule("ver", {}, job_id="old-1")
        wait_until(lambda: first.get_job("old-1").state is JobState.WAITING, "the case parked")
    with Mediator([flow(2)], store=store_url, owner="a") as newer:
        assert newer.cancel("old-1") is CancelOutcome.CANCELLED
        assert newer.get_job("old-1").state is JobState.CANCELLED
        assert newer.cancel("old-1") is CancelOutcome.ALREADY_FINISHED
        assert newer.cancel("no-such-case") is CancelOutcome.NOT_FOUND
    with Mediator([flow(1), flow(2)], store=store_url, owner="a") as both:
        assert both.get_job("old-1").state is JobState.CANCELLED
    assert ran == []


def test_cancel_of_a_case_another_worker_holds_is_carried_out_by_that_worker(store_url):
    """As Admin.cancel does it: a request the holder takes at its next poll."""
    from bounds import wait_until

    from actors import CancelOutcome

    nap = Workflow("nap", [Wait("w", 3600, next="x"), Sequential("x", lambda d: None)], start="w")
    with Mediator([nap], store=store_url, owner="holder", poll_interval=0.1) as holder:
        holder.schedule("nap", {}, job_id="held-1")
        wait_until(lambda: holder.get_job("held-1").state is JobState.WAITING, "the case parked")
        with Mediator([nap], store=store_url, owner="other", poll_interval=0.1) as other:
            assert other.cancel("held-1") is CancelOutcome.CANCELLED
        assert holder.get_job("held-1").state is JobState.CANCELLED
