"""actors.admin on SQLite and PostgreSQL: each action with no worker, and beside a live one.

A worker (a Mediator with a short poll interval) runs the cases; a separate ``Admin``,
on a store of its own as another process would open it, acts on them. A case no live
worker holds is changed in the store; a case a live worker holds is handed to it.
"""

import threading
import time

import pytest
from bounds import TIMEOUT, wait_until

from actors import (
    CodecError,
    DeferredChoice,
    JobState,
    LeaseLostError,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Workflow,
    enqueue,
)
from actors.admin import ActionRefusedError, Admin, CaseBusyError
from actors.stores import open_store
from actors.testing import VirtualClock

BROKEN: dict[str, bool] = {}


def pay(data):
    if BROKEN.get("pay"):
        raise RuntimeError("card declined")
    data["paid"] = True


def ship(data, ctx):
    data["shipped"] = ctx.attempt  # which run of the step the join merged


FLOW = Workflow(
    "order",
    start="reserve",
    steps=[
        Sequential("reserve", lambda d: d.update(reserved=True), next="fan_out"),
        ParallelSplit("fan_out", branches=["pay", "ship"]),
        Sequential("pay", pay, next="join"),
        Sequential("ship", ship, next="join"),
        Synchronize("join", next="ask"),
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r)),
    ],
)


@pytest.fixture
def url(make_sql_store):
    BROKEN.clear()
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def worker(url, owner="w1", flows=(FLOW,)):
    return Mediator(flows, store=url, owner=owner, poll_interval=0.02, lease_seconds=5.0)


def state_of(admin, job_id):
    return admin.job(job_id).state


def test_list_filters_and_pages(url):
    BROKEN["pay"] = True
    with worker(url) as mediator:
        handles = [mediator.schedule("order", {"n": n}, job_id=f"o{n}") for n in range(3)]
        for handle in handles:
            assert handle.result(timeout=TIMEOUT).state is JobState.FAULTED
    with Admin(url, operator="alice") as admin:
        faulted = admin.jobs(state="faulted")
        assert {j.id for j in faulted.items if j.parent_id is None} == {"o0", "o1", "o2"}
        assert all(j.state is JobState.FAULTED for j in faulted.items)
        assert len(faulted.items) == 6  # each case and its pay branch
        cases = admin.jobs(state="faulted", cases_only=True, workflow="order", limit=2)
        assert [j.id for j in cases.items] == ["o2", "o1"]  # newest first
        assert cases.next_offset == 2
        rest = admin.jobs(state="faulted", cases_only=True, offset=cases.next_offset, limit=2)
        assert [j.id for j in rest.items] == ["o0"]
        assert rest.next_offset is None
        assert {j.step for j in admin.jobs(error="CARD DECLINED").items} == {"pay", "fan_out"}
        assert admin.jobs(step="join", state="done").items[0].branch_index == 1  # arrived
        assert admin.jobs(workflow="other").items == []
        assert len(admin.jobs(since=3600, cases_only=True).items) == 3
        assert admin.jobs(before=3600).items == []
        with pytest.raises(ValueError, match="unknown job state 'broken'"):
            admin.jobs(state="broken")


def test_a_faulted_case_is_described_as_a_tree_then_retried_to_its_join(url):
    BROKEN["pay"] = True
    with worker(url) as mediator:
        assert mediator.schedule("order", {}, job_id="o1").result(timeout=TIMEOUT).state is (
            JobState.FAULTED
        )
        with Admin(url, operator="alice", workflows=[FLOW]) as admin:
            tree = admin.case("o1")
            assert tree.state is JobState.FAULTED and tree.held_by is None
            assert tree.root.split.waiting_for == (0,) and tree.root.split.arrived == (1,)
            steps = [(depth, n.job.step, n.job.state) for depth, n in tree.walk()]
            assert steps == [
                (0, "fan_out", JobState.FAULTED),
                (1, "pay", JobState.FAULTED),
                (1, "join", JobState.DONE),
            ]
            branch = tree.root.children[0].job.id
            BROKEN["pay"] = False  # the bug is fixed
            result = admin.retry("o1")
            assert (result.outcome, result.via, result.operator) == ("retried", "store", "alice")
            wait_until(
                lambda: (
                    state_of(admin, "o1") is JobState.WAITING
                    and admin.case("o1").root.job.step == "ask"
                )
            )
            job = admin.job("o1")
            assert job.correlation_ids == ("o1/ask",)
            assert job.data["paid"] and job.data["shipped"]
            pay_history = admin.history(branch)
            actions = [e for e in pay_history if e.kind == "action"]
            assert actions[0].worker == "alice" and "attempt 2" in actions[0].action
            ran = [e for e in pay_history if e.kind == "step" and e.step == "pay"]
            assert [e.attempt for e in ran] == [1, 2]
            assert ran[0].error.endswith("card declined (attempt 1)")
            assert ran[1].worker == "w1" and ran[1].duration >= 0
            # Its start is when a runner began it (after a worker claimed the retried
            # case), not when the retry made it ready.
            assert ran[1].started > actions[0].ended


def test_reset_to_a_named_step_runs_the_case_again_from_there(url):
    with worker(url) as mediator:
        handle = mediator.schedule("order", {}, job_id="o1")
        with Admin(url, operator="bob", workflows=[FLOW]) as admin:
            wait_until(
                lambda: state_of(admin, "o1") is JobState.WAITING and admin.job("o1").step == "ask"
            )
            assert admin.send_event("o1/ask", "yes").via == "worker w1"
            assert handle.result(timeout=TIMEOUT).state is JobState.DONE
            with pytest.raises(ActionRefusedError, match="not faulted"):
                admin.retry("o1")
            with pytest.raises(ActionRefusedError, match="no step 'nope'"):
                admin.retry("o1", from_step="nope")
            assert admin.retry("o1", from_step="ask").outcome == "reset"
            wait_until(lambda: state_of(admin, "o1") is JobState.WAITING)
            assert admin.job("o1").attempt == 2  # a new idempotency key for the step
            assert admin.send_event("o1/ask", "again").outcome == "delivered"
            wait_until(lambda: state_of(admin, "o1") is JobState.DONE)
            assert admin.job("o1").data["reply"] == "again"


def test_cancel_and_event_while_a_live_worker_holds_the_case_go_through_it(url):
    with worker(url) as mediator:
        one = mediator.schedule("order", {}, job_id="o1")
        two = mediator.schedule("order", {}, job_id="o2")
        with Admin(url, operator="carol") as admin:
            wait_until(lambda: all(admin.job(i).step == "ask" for i in ("o1", "o2")))
            assert admin.case("o1").held_by == "w1"
            with pytest.raises(ActionRefusedError, match="held by worker 'w1'"):
                admin.retry("o1", from_step="reserve")
            assert admin.prune(0).cases == 0  # unfinished cases are kept
            cancelled = admin.cancel("o1")
            assert (cancelled.outcome, cancelled.via) == ("cancelled", "worker w1")
            assert one.result(timeout=TIMEOUT).state is JobState.CANCELLED
            event = admin.send_event("o2/ask", {"ok": True})
            assert (event.outcome, event.via) == ("delivered", "worker w1")
            assert two.result(timeout=TIMEOUT).data["reply"] == {"ok": True}
            assert admin.send_event("o2/ask", 1).outcome == "finished"
            assert admin.cancel("o2").outcome == "already_finished"
            actions = [e.action for e in admin.history("o1") if e.kind == "action"]
            assert actions == ["cancel (cancelled, by worker)"]
            # The event is in o2's history before the step it let run (ask, to the end).
            after = [(e.kind, e.state) for e in admin.history("o2")][-2:]
            assert after == [("action", "ready"), ("step", "done")]
            assert admin.prune(0).cases == 2
            assert admin.jobs().items == []


def test_a_prune_deletes_the_join_arrivals_of_the_cases_it_deletes(url, make_sql_store):
    def join_rows():
        return [
            make_sql_store.raw(f"SELECT parent_id FROM {table} ORDER BY parent_id")
            for table in ("join_arrivals", "join_counts")
        ]

    with worker(url) as mediator:
        done = mediator.schedule("order", {}, job_id="o1")
        mediator.schedule("order", {}, job_id="o2")
        with Admin(url) as admin:
            wait_until(lambda: all(admin.job(i).step == "ask" for i in ("o1", "o2")))
            assert admin.send_event("o1/ask", 1).outcome == "delivered"
            assert done.result(timeout=TIMEOUT).state is JobState.DONE
            assert join_rows() == [[("o1",), ("o1",), ("o2",), ("o2",)], [("o1",), ("o2",)]]
            assert admin.prune(0).cases == 1
            # The unfinished case keeps its arrivals; nothing of the pruned one is left.
            assert join_rows() == [[("o2",), ("o2",)], [("o2",)]]


def test_cancel_and_event_with_no_worker_change_the_store_and_a_worker_resumes(url):
    with worker(url) as mediator:
        mediator.schedule("order", {}, job_id="o1")
        mediator.schedule("order", {}, job_id="o2")
        with Admin(url) as admin:
            wait_until(lambda: all(admin.job(i).step == "ask" for i in ("o1", "o2")))
    # The worker has stopped: its cases are parked in the store, held by nobody.
    with Admin(url, operator="dave") as admin:
        assert admin.case("o1").held_by is None
        assert admin.cancel("o1").via == "store"
        assert state_of(admin, "o1") is JobState.CANCELLED
        assert admin.job("o1").error == "cancelled by dave"
        delivered = admin.send_event("o2/ask", "by hand")
        assert (delivered.outcome, delivered.via) == ("delivered", "store")
        assert admin.send_event("o2/ask", "twice").outcome == "duplicate"
        assert admin.send_event("o2/nope", 1).outcome == "unknown"
        with worker(url, owner="w2"):
            wait_until(lambda: state_of(admin, "o2") is JobState.DONE)
        assert admin.job("o2").data["reply"] == "by hand"
        assert [e.worker for e in admin.history("o2") if e.kind == "action"] == ["dave"]


CHOICE = Workflow(
    "checkout",
    start="which",
    steps=[
        DeferredChoice("which", events={"paid": "end", "cancelled": "end"}),
        Sequential("end", lambda d: None),
    ],
)


def test_the_losing_event_of_a_choice_answered_in_the_store_is_late_not_duplicate(url):
    with worker(url, flows=(CHOICE,)) as mediator:
        mediator.schedule("checkout", {}, job_id="c1")
        with Admin(url) as admin:
            wait_until(lambda: state_of(admin, "c1") is JobState.WAITING)
    with Admin(url) as admin:  # no worker: the store takes the events
        assert admin.send_event("c1/which/paid").outcome == "delivered"
        assert admin.send_event("c1/which/paid").outcome == "duplicate"
        # "paid" won: the other event is withdrawn, as a worker answers it.
        assert admin.send_event("c1/which/cancelled").outcome == "late"


TIMED = Workflow(
    "timed",
    start="ask",
    steps=[
        RequestReaction("ask", send=lambda d, ctx: None, next="end", timeout=60, on_timeout="end"),
        Sequential("end", lambda d: None),
    ],
)


def test_a_reply_after_the_timeout_is_late_in_the_store_though_no_worker_fired_it(url):
    # The first worker's clock stands still at t=0: it parks the job due at t=60, an
    # instant long past on the wall clock, and never fires it before it stops.
    first = Mediator(
        [TIMED], store=url, owner="w1", clock=VirtualClock(), poll_interval=0.02, lease_seconds=5.0
    )
    with first as mediator:
        mediator.schedule("timed", {}, job_id="t1")
        with Admin(url) as admin:
            wait_until(lambda: state_of(admin, "t1") is JobState.WAITING)
    with Admin(url) as admin:
        assert admin.job("t1").due == 60
        assert admin.send_event("t1/ask", "too late").outcome == "late"
        assert state_of(admin, "t1") is JobState.WAITING
        with worker(url, owner="w2", flows=(TIMED,)):  # fires the overdue timeout
            wait_until(lambda: state_of(admin, "t1") is JobState.DONE)
        assert [e.action for e in admin.history("t1") if e.kind == "action"] == []


def test_an_action_on_an_expired_lease_takes_the_case_and_fences_its_old_holder(url):
    with worker(url) as mediator:
        mediator.schedule("order", {}, job_id="o1")
        with Admin(url) as admin:
            wait_until(lambda: admin.job("o1").step == "ask")
    stale = open_store(url)
    stale.owner = "frozen"
    taken = stale.claim("frozen", time.time() - 60, 1.0, 1, case_id="o1")  # long expired
    assert taken
    with Admin(url, operator="erin") as admin:
        assert admin.cancel("o1").via == "store"
    record = taken[0]
    record.step = "ask"
    with pytest.raises(LeaseLostError):
        stale.save(record)  # the frozen worker wakes up: it is fenced out
    stale.close()


def test_a_live_holder_that_never_takes_the_request_leaves_the_case_unchanged(url):
    with worker(url) as mediator:
        mediator.schedule("order", {}, job_id="o1")
        with Admin(url) as admin:
            wait_until(lambda: admin.job("o1").step == "ask")
    ghost = open_store(url)
    assert ghost.claim("ghost", time.time(), 60.0, 1, case_id="o1")  # alive, never polls
    with Admin(url, timeout=0.2) as admin:
        with pytest.raises(CaseBusyError, match="'ghost' holds case o1") as caught:
            admin.cancel("o1")
        assert caught.value.owner == "ghost"
        assert state_of(admin, "o1") is JobState.WAITING
    ghost.close()


def test_a_corrupt_request_is_answered_with_its_error_and_the_worker_goes_on(url, make_sql_store):
    with worker(url) as mediator:
        handle = mediator.schedule("order", {}, job_id="o1")
        with Admin(url, operator="mallory") as admin:
            wait_until(lambda: admin.job("o1").step == "ask")
            request_id = admin.store.post_request("o1", "o1", "event", None, "mallory", time.time())
            make_sql_store.raw(
                "UPDATE job_requests SET payload = ? WHERE id = ?", ("{not json", request_id)
            )
            wait_until(lambda: admin.store.get_request(request_id).done_at is not None)
            assert admin.store.get_request(request_id).outcome.startswith("error: ")
            assert admin.send_event("o1/ask", "still fine").via == "worker w1"
            assert handle.result(timeout=TIMEOUT).data["reply"] == "still fine"


def test_reset_of_a_branch_that_had_joined_makes_the_join_wait_for_it_again(url):
    with worker(url) as mediator:
        handle = mediator.schedule("order", {}, job_id="o1")
        with Admin(url, operator="bob", workflows=[FLOW]) as admin:
            wait_until(lambda: admin.job("o1").step == "ask")
            admin.send_event("o1/ask", "first")
            assert handle.result(timeout=TIMEOUT).state is JobState.DONE
            ship_branch = admin.case("o1").root.children[1].job
            assert (ship_branch.step, ship_branch.state) == ("join", JobState.DONE)
            with pytest.raises(ActionRefusedError, match="gone past the split"):
                admin.retry(ship_branch.id, from_step="ship")  # the root joined and went on
            assert admin.retry("o1", from_step="fan_out").outcome == "reset"
            wait_until(
                lambda: admin.job("o1").step == "ask" and state_of(admin, "o1") is JobState.WAITING
            )
            tree = admin.case("o1")
            assert tree.jobs == 5  # the new split's two branches beside the old ones
            assert admin.send_event("o1/ask", "second").outcome == "delivered"
            wait_until(lambda: state_of(admin, "o1") is JobState.DONE)


def test_a_reset_branch_that_had_arrived_arrives_again_and_the_join_fires_once(url):
    BROKEN["pay"] = True
    with worker(url) as mediator:
        assert mediator.schedule("order", {}, job_id="o1").result(timeout=TIMEOUT).state is (
            JobState.FAULTED
        )
    with Admin(url, operator="bob", workflows=[FLOW]) as admin:
        pay_job, ship_job = (n.job.id for n in admin.case("o1").root.children)
        assert admin.case("o1").root.split.arrived == (1,)
        assert admin.retry(ship_job, from_step="ship").outcome == "reset"
        assert admin.case("o1").root.split.arrived == ()  # its arrival was taken back
        with worker(url):
            # ship runs again and arrives; pay is still faulted, so the split faults again
            wait_until(lambda: state_of(admin, "o1") is JobState.FAULTED)
            assert admin.case("o1").root.split.arrived == (1,)
            BROKEN["pay"] = False
            admin.retry("o1")
            wait_until(lambda: admin.job("o1").step == "ask")
        assert admin.job("o1").data["shipped"] == 2  # the join merged the second run's data
        ship_runs = [e for e in admin.history(ship_job) if e.kind == "step"]
        assert [e.step for e in ship_runs] == ["ship", "join", "ship", "join"]
        assert [e.attempt for e in ship_runs if e.step == "ship"] == [1, 2]
        pay_runs = [
            e.attempt for e in admin.history(pay_job) if e.step == "pay" and e.kind == "step"
        ]
        assert pay_runs == [1, 2]


@pytest.mark.slow
def test_actions_from_two_threads_beside_two_workers_one_of_which_stops(url):
    """Events and cancels race each other, two workers' polls and one worker's shutdown.

    Every case gets one action; each must be carried out exactly once, by whoever holds
    the case at that moment (a worker, or the store once its worker has released it),
    and every case must end as that action says.
    """
    other = Workflow("other", FLOW.steps.values(), start="reserve")
    store = open_store(url)
    ids = [f"c{n}" for n in range(12)]
    for n, case_id in enumerate(ids):  # the second worker serves only "other"
        enqueue(store, other if n % 3 == 0 else FLOW, {}, job_id=case_id)
    store.close()
    second = worker(url, "w2", flows=(other,))
    first = worker(url, "w1", flows=(FLOW, other))  # it takes "other" cases once released
    try:
        with Admin(url, operator="race", timeout=20) as admin:
            wait_until(lambda: all(admin.job(i).step == "ask" for i in ids))
            assert {admin.case(i).held_by for i in ids} == {"w1", "w2"}
            results: dict[str, str] = {}
            errors: list[BaseException] = []

            def act(mine: list[str]) -> None:
                try:
                    for n, case_id in enumerate(mine):
                        if n % 2:
                            results[case_id] = admin.cancel(case_id).outcome
                        else:
                            results[case_id] = admin.send_event(f"{case_id}/ask", n).outcome
                except BaseException as exc:  # reported below, in the test's thread
                    errors.append(exc)

            threads = [threading.Thread(target=act, args=(ids[k::2],)) for k in (0, 1)]
            for thread in threads:
                thread.start()
            second.shutdown()  # its cases are released; the first worker takes them over
            for thread in threads:
                thread.join(timeout=2 * TIMEOUT)
            assert not errors, errors
            assert set(results.values()) <= {"delivered", "cancelled"}
            assert len(results) == len(ids)
            wait_until(lambda: all(state_of(admin, i).is_final for i in ids))
            for case_id, outcome in results.items():
                expected = JobState.DONE if outcome == "delivered" else JobState.CANCELLED
                assert state_of(admin, case_id) is expected, case_id
                actions = [e for e in admin.history(case_id) if e.kind == "action"]
                assert len(actions) == 1, (case_id, actions)
    finally:
        second.shutdown()
        first.shutdown()


def test_a_request_whose_holder_s_lease_runs_out_is_carried_out_in_the_store(url):
    with worker(url) as mediator:
        mediator.schedule("order", {}, job_id="o1")
        with Admin(url) as admin:
            wait_until(lambda: admin.job("o1").step == "ask")
    dying = open_store(url)
    assert dying.claim("dying", time.time(), 0.3, 1, case_id="o1")  # never renewed
    with Admin(url, operator="ivy", timeout=10) as admin:
        result = admin.cancel("o1")  # posted for "dying"; its lease runs out meanwhile
        assert (result.outcome, result.via) == ("cancelled", "store")
        assert state_of(admin, "o1") is JobState.CANCELLED
        assert [e.worker for e in admin.history("o1") if e.kind == "action"] == ["ivy"]
    dying.close()


HALF = Workflow(
    "half",
    start="fan_out",
    steps=[
        ParallelSplit("fan_out", branches=["quick", "asks"]),
        Sequential("quick", lambda d: None, next="join"),
        RequestReaction("asks", send=lambda d, ctx: None, on_reply=lambda d, r: None, next="join"),
        Synchronize("join"),
    ],
)


def test_a_split_cancelled_in_the_store_still_shows_the_branch_that_had_arrived(url):
    with worker(url, flows=(HALF,)) as mediator:
        mediator.schedule("half", {}, job_id="h1")
        with Admin(url, workflows=[HALF]) as admin:
            wait_until(lambda: getattr(admin.case("h1").root.split, "arrived", ()) == (0,))
    with Admin(url, workflows=[HALF]) as admin:  # no live worker: cancelled in the store
        assert admin.cancel("h1").via == "store"
        tree = admin.case("h1")
        assert tree.state is JobState.CANCELLED
        assert tree.root.split.arrived == (0,) and tree.root.split.waiting_for == (1,)


TWO_ASK = Workflow(
    "two_ask",
    start="fan_out",
    steps=[
        ParallelSplit("fan_out", branches=["ask", "ask"]),
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: None, next="join"),
        Synchronize("join"),
    ],
)


def test_a_branch_cancelled_while_its_sibling_waits_is_not_shown_as_awaited(url):
    with worker(url, flows=(TWO_ASK,)) as mediator:
        mediator.schedule("two_ask", {}, job_id="t1")
        with Admin(url, workflows=[TWO_ASK]) as admin:
            wait_until(
                lambda: [k.job.step for k in admin.case("t1").root.children] == ["ask", "ask"]
            )
            assert admin.case("t1").root.split.waiting_for == (0, 1)
            second = admin.case("t1").root.children[1].job.id
            assert admin.cancel(second).outcome == "cancelled"
            wait_until(lambda: admin.job(second).state is JobState.CANCELLED)
            split = admin.case("t1").root.split
            assert (split.arrived, split.waiting_for, split.ended) == ((), (0,), (1,))
            assert admin.job("t1").state is JobState.WAITING  # its other branch still waits


def test_a_request_whose_outcome_cannot_be_read_for_a_while_is_read_once_it_can(url):
    """A database restarting (or a dropped connection) while an operator waits on a worker."""
    from actors import StoreError

    with worker(url) as mediator:
        handle = mediator.schedule("order", {}, job_id="o1")
        with Admin(url, operator="carol", timeout=5.0) as admin:
            wait_until(lambda: admin.job("o1").step == "ask")
            read = admin.store.get_request
            failures = iter(range(3))

            def flaky(request_id):
                if next(failures, None) is not None:
                    raise StoreError("terminating connection due to administrator command")
                return read(request_id)

            admin.store.get_request = flaky
            cancelled = admin.cancel("o1")
            assert (cancelled.outcome, cancelled.via) == ("cancelled", "worker w1")
            assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED


def test_a_request_whose_outcome_is_never_read_says_it_may_still_be_carried_out(url):
    from actors import StoreError

    with worker(url) as mediator:
        mediator.schedule("order", {}, job_id="o1")
        with Admin(url, operator="carol", timeout=0.3) as admin:
            wait_until(lambda: admin.job("o1").step == "ask")

            def down(request_id):
                raise StoreError("the database is down")

            admin.store.get_request = down
            with pytest.raises(
                StoreError, match=r"may still be carried out: see `actors jobs show o1"
            ):
                admin.cancel("o1")


def test_an_action_on_an_id_no_job_has_names_it_and_changes_nothing(url):
    """An operator's typo is an error (``Mediator.receive_event`` answers ``unknown``)."""
    from actors._errors import JobNotFoundError

    with Admin(url, operator="dave") as admin:
        for act in (
            lambda: admin.send_event("order-71/ask", {"ok": True}),
            lambda: admin.cancel("order-71"),
            lambda: admin.retry("order-71"),
        ):
            with pytest.raises(JobNotFoundError, match="no job 'order-71' in "):
                act()
        assert admin.jobs().items == []


def test_an_event_payload_no_store_can_keep_is_refused_naming_the_payload(url):
    # The store path encoded the job's event as a whole and named its payload by an
    # index of that ("cannot encode event of job c1[2]['at']"), as no user wrote it.
    with worker(url, flows=(CHOICE,)) as mediator:
        mediator.schedule("checkout", {}, job_id="c1")
        with Admin(url) as admin:
            wait_until(lambda: state_of(admin, "c1") is JobState.WAITING)
    with Admin(url) as admin:
        with pytest.raises(CodecError) as refused:
            admin.send_event("c1/which/paid", {"at": {1, 2}})
        assert str(refused.value).startswith(
            "cannot encode event payload for 'c1/which/paid'['at']: value of type builtins.set"
        )
        assert state_of(admin, "c1") is JobState.WAITING  # still waits for a good one
        assert admin.send_event("c1/which/paid", {"at": [1, 2]}).outcome == "delivered"
