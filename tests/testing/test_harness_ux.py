"""What a user meets using the harness from its docs: clear errors for misuse, readable reports.

Each test is user code doing what a first-time user did: the mistake, and the error or
report that must tell them what went wrong.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest
from hypothesis import given, settings

from actors import (
    FullMode,
    JobExistsError,
    JobState,
    MailboxFull,
    RequestReaction,
    Sequential,
    Workflow,
)
from actors.testing import (
    Crash,
    Deadlock,
    FaultPlan,
    Harness,
    HarnessError,
    InvariantViolation,
    Stall,
    exhaust,
    explore,
    strategies,
)


def reserve(data):
    data["reserved"] = True


def price(data):
    return data["amount"] * 2  # a bug: returns a number, which replaces the job's data


def price_in_context(data, ctx):
    return data["amount"] * 2  # the same bug in a task that takes the step context


def ship(data):
    data["shipped"] = True


order_flow = Workflow("order", start="reserve", steps=[
    Sequential("reserve", reserve, next="ship"),
    Sequential("ship", ship),
])  # fmt: skip


def priced_flow(task):
    return Workflow("priced", start="reserve", steps=[
        Sequential("reserve", reserve, next="price"),
        Sequential("price", task, next="ship"),
        Sequential("ship", ship),
    ])  # fmt: skip


def send_request(data, correlation_id):
    pass  # nobody ever replies


request_flow = Workflow("ask", start="ask", steps=[RequestReaction("ask", send=send_request)])


class Stock(pykka.ThreadingActor):
    def on_receive(self, message):
        return message


# -- a closed harness ---------------------------------------------------------------------


def test_a_test_of_admission_alone_closes_the_harness_itself_and_is_not_refused():
    with Harness([order_flow], seed=1, capacity=1, full_mode=FullMode.DROP_NEWEST) as h:
        subs = [h.schedule("order", {}) for _ in range(2)]
        assert isinstance(subs[1].refused, MailboxFull)
        h.close()  # nothing was meant to run
    unclosed = pytest.raises(HarnessError, match="before anything ran: 1 case")
    with unclosed, Harness([order_flow], seed=1, capacity=1, full_mode=FullMode.DROP_NEWEST) as h:
        subs = [h.schedule("order", {}) for _ in range(2)]


def test_scheduling_on_a_closed_harness_says_it_is_closed():
    h = Harness([order_flow], seed=1)
    h.close()
    with pytest.raises(HarnessError, match=r"schedule\(\): this Harness is closed"):
        h.schedule("order", {})


def test_a_harness_used_after_its_with_block_says_it_is_closed_not_deadlock():
    # Nothing ran the case: leaving the block says so (a test that went on would pass).
    ended = pytest.raises(HarnessError, match="the with block ended before anything ran")
    with ended, Harness([order_flow], seed=1) as h:
        pending = h.schedule("order", {})
    for call in (pending.result, h.finish, h.run_until_quiescent, h.step):
        with pytest.raises(HarnessError, match="this Harness is closed") as caught:
            call()
        assert not isinstance(caught.value, Deadlock)
    with pytest.raises(HarnessError, match="this Harness is closed"):
        h.schedule_many("order", [{}])
    with pytest.raises(HarnessError, match="this Harness is closed"):
        h.cancel("j1")


def test_a_closed_harness_still_shows_its_results_and_trace():
    with Harness([order_flow], seed=1) as h:
        done = h.schedule("order", {})
        h.finish()
    assert done.result().state is JobState.DONE
    assert h.trace
    assert "unfinished cases: 0" in h.report()


# -- wrong arguments ----------------------------------------------------------------------


def test_a_single_workflow_instead_of_a_list_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"list of Workflow.*single Workflow \('order'\)"):
        Harness(order_flow, seed=1)  # type: ignore[arg-type]


def test_a_list_of_workflow_names_is_a_clear_type_error():
    with pytest.raises(TypeError, match="item 0 is str 'order'"):
        Harness(["order"], seed=1)  # type: ignore[list-item]


def test_starting_an_actor_instance_is_a_clear_type_error():
    expected = r"expected a pykka\.Actor subclass.*instance of Stock"
    with Harness([order_flow], seed=1) as h, pytest.raises(TypeError, match=expected):
        h.actor(Stock())  # type: ignore[arg-type]


def test_starting_an_actor_ref_is_a_clear_type_error():
    with Harness([order_flow], seed=1) as h:
        stock = h.actor(Stock)
        with pytest.raises(TypeError, match=r"expected a pykka\.Actor subclass.*ActorRef of Stock"):
            h.actor(stock)  # type: ignore[arg-type]
        assert stock.ask("ok") == "ok"  # the real call still works


def test_a_wrong_argument_names_the_harness_method_not_a_mixin():
    with Harness([order_flow], seed=1) as h:
        with pytest.raises(TypeError, match=r"^Harness\.schedule\(\) got an unexpected keyword"):
            h.schedule("order", {}, priority=1)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"^Harness\.receive_event\(\) missing"):
            h.receive_event()  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"^Harness\.check_invariant\(\) missing"):
            h.check_invariant()  # type: ignore[call-arg]


def test_schedule_takes_a_job_id_as_mediator_schedule_does():
    with Harness([order_flow], seed=1) as h:
        sub = h.schedule("order", {}, job_id="order-17")
        assert sub.job_id == "order-17"
        with pytest.raises(JobExistsError, match="'order-17' already exists"):
            h.schedule("order", {}, job_id="order-17")
        for bad in ("", "a/b", 17):
            with pytest.raises(ValueError, match="job_id must be a non-empty string without '/'"):
                h.schedule("order", {}, job_id=bad)  # type: ignore[arg-type]
        assert h.submissions == [sub]  # a refused call leaves no submission behind
        [job] = h.finish()
        assert (job.id, job.state) == ("order-17", JobState.DONE)


def test_a_blocked_producer_whose_job_id_was_taken_meanwhile_is_refused():
    with Harness([order_flow], seed=3, capacity=1) as h:
        h.schedule("order", {})  # fills the admission mailbox: the next two block
        first = h.schedule("order", {}, job_id="order-1")
        second = h.schedule("order", {}, job_id="order-1")
        assert first.blocked and second.blocked
        h.finish()
        outcomes = sorted(type(s.refused).__name__ for s in (first, second))
        assert outcomes == ["JobExistsError", "NoneType"]
        admitted = first if first.refused is None else second
        assert admitted.result().state is JobState.DONE


def test_cancelling_a_submission_not_admitted_yet_says_why_its_id_is_none():
    # A blocked producer's case has no id yet: cancel(sub.job_id) was a bare "must be a
    # non-empty str, got NoneType None".
    with Harness([order_flow], seed=3, capacity=1) as h:
        h.schedule("order", {})
        blocked = h.schedule("order", {})
        assert blocked.blocked and blocked.job_id is None
        with pytest.raises(TypeError, match="job_id is None until its case is admitted"):
            h.cancel(blocked.job_id)  # type: ignore[arg-type]
        h.finish()


def test_fault_plans_refuses_one_point_name_given_as_a_str():
    with pytest.raises(TypeError, match=r"points=\('before_save',\).*before_step, before_save"):
        strategies.fault_plans(points="before_save")  # type: ignore[arg-type]


# A mistake in an argument is named where it is made: never deep inside the run, and
# never a pass that ran nothing or left out the fault it asked for.
HARNESS_MISTAKES = {
    "faults given a list": (lambda: Harness([order_flow], faults=[Crash(1)]),
                            TypeError, r"Harness\(faults=...\) takes a FaultPlan"),
    "store given a number": (lambda: Harness([order_flow], store=42),
                             TypeError, r"Harness\(store=...\) takes a Store or a store URL"),
    "strategy given a name": (lambda: Harness([order_flow], strategy="pct"),
                              TypeError, r"Harness\(strategy=...\) takes PCT"),
    "data that is not Hypothesis's": (lambda: Harness([order_flow], data=42),
                                      TypeError, r"Harness\(data=...\)"),
    "a seed that is not an int": (lambda: Harness([order_flow], seed="abc"),
                                  TypeError, r"Harness\(seed=...\) must be an int, got str"),
    "a choice that is not an index": (lambda: Harness([order_flow], choices=[0, -1]),
                                      ValueError, r"each of Harness\(choices=...\) must be >= 0"),
    "max_steps of 0": (lambda: Harness([order_flow], max_steps=0),
                       ValueError, r"Harness\(max_steps=...\) must be >= 1, got 0"),
    "a clock that is a number": (lambda: Harness([order_flow], clock=5),
                                 TypeError, r"Harness\(clock=...\) takes a VirtualClock"),
    "runner_batch of 0": (lambda: Harness([order_flow], runner_batch=0),
                          ValueError, r"runner_batch must be an int >= 1, got 0"),
    "explore of no runs": (lambda: explore(lambda h: None, runs=0),
                           ValueError, r"explore\(runs=...\) must be >= 1, got 0"),
    "explore of a name": (lambda: explore("scenario"),
                          TypeError, r"explore\(scenario\) must be callable"),
    "exhaust of no schedules": (lambda: exhaust(lambda h: None, max_schedules=0),
                                ValueError, r"exhaust\(max_schedules=...\) must be >= 1"),
    "configs of no runners": (lambda: strategies.engine_configs(runners=(0, 2)),
                              ValueError, r"engine_configs\(runners=\(0, 2\)\)"),
}  # fmt: skip


@pytest.mark.parametrize("mistake", sorted(HARNESS_MISTAKES))
def test_a_wrong_harness_argument_is_named_at_once(mistake):
    call, error, words = HARNESS_MISTAKES[mistake]
    with pytest.raises(error, match=words):
        call()


METHOD_MISTAKES = {
    "advance('5')": (lambda h: h.advance("5"), TypeError, r"advance\(seconds\) must be a number"),
    "at(1, 42)": (lambda h: h.at(1, 42), TypeError, r"at\(action, fn\): fn must be callable"),
    "receive_event(123)": (lambda h: h.receive_event(123),
                           TypeError, r"receive_event\(correlation_id\) must be a non-empty str"),
    "cancel(None)": (lambda h: h.cancel(None), TypeError, r"cancel\(job_id\) got None: a sub"),
    "cancel(17)": (lambda h: h.cancel(17), TypeError, r"cancel\(job_id\) must be"),
    "check_invariant(7)": (lambda h: h.check_invariant(7),
                           ValueError, r"the invariants are 1 to 6, got 7"),
    "run_until_quiescent(max_steps=-1)": (lambda h: h.run_until_quiescent(max_steps=-1),
                                          ValueError, r"max_steps\) must be >= 1, got -1"),
    "result(timeout='x')": (lambda h: h.schedule("order", {}).result(timeout="x"),
                            TypeError, r"result\(timeout=...\) must be a number of seconds"),
    "schedule_many of a str": (lambda h: h.schedule_many("order", "abc"),
                               TypeError, r"items must be an iterable .* a case per character"),
    "schedule_many of a dict": (lambda h: h.schedule_many("order", {"a": 1}),
                                TypeError, r"a case per key"),
}  # fmt: skip


@pytest.mark.parametrize("mistake", sorted(METHOD_MISTAKES))
def test_a_wrong_argument_to_a_harness_method_is_named_at_once(mistake):
    call, error, words = METHOD_MISTAKES[mistake]
    with Harness([order_flow], seed=1) as h:
        with pytest.raises(error, match=words):
            call(h)
        assert not h.submissions or h.submissions[0].name  # nothing half-admitted to trip on
        h.run_until_quiescent()


def test_fail_takes_any_message():
    with Harness([order_flow], seed=1) as h, pytest.raises(InvariantViolation, match=r"^123"):
        h.fail(123)


FAULT_PLAN_MISTAKES = {
    "a crash without its tuple's comma": (lambda: FaultPlan(crashes=(Crash(1))),
                                          TypeError, r"a tuple of one needs a comma"),
    "a number for a crash": (lambda: FaultPlan(crashes=[1]),
                             TypeError, r"FaultPlan\(crashes=...\) takes Crashs only, got 1"),
    "a crash among the stalls": (lambda: FaultPlan(stalls=(Crash(1),)),
                                 TypeError, r"FaultPlan\(stalls=...\) takes Stalls only"),
    "two crashes at one step": (
        lambda: FaultPlan(crashes=(Crash(2, point="before_save"), Crash(2, point="stalled"))),
        ValueError, r"two crashes at step 2"),
}  # fmt: skip


@pytest.mark.parametrize("mistake", sorted(FAULT_PLAN_MISTAKES))
def test_a_fault_plan_that_could_not_happen_as_written_is_refused(mistake):
    call, error, words = FAULT_PLAN_MISTAKES[mistake]
    with pytest.raises(error, match=words):
        call()


def test_a_stall_of_a_runner_the_engine_lacks_is_listed_as_not_reached():
    # Generated plans stall runners 0-3 whatever the drawn config has: not an error.
    plan = FaultPlan(stalls=(Stall(runner=5, at=0, steps=3),))
    with Harness([order_flow], seed=1, runners=2, faults=plan) as h:
        h.schedule("order", {})
        h.finish()
        assert "stall runner 5 (the engine has 2 runner(s): never happens)" in h.report()


def test_generated_fault_plans_hold_one_crash_per_step():
    plans = strategies.fault_plans(max_each=5, max_step=3, stalls=False, events=False)

    @given(plans)
    @settings(max_examples=60, database=None, deadline=None)
    def check(plan: FaultPlan) -> None:
        steps = [c.at_step for c in plan.crashes]
        assert len(steps) == len(set(steps))

    check()


# -- what a report says -------------------------------------------------------------------


def test_a_deadlock_waiting_on_a_case_names_the_case_not_a_future():
    with Harness([request_flow], seed=1) as h:
        case = h.schedule("ask", {})
        with pytest.raises(Deadlock) as caught:
            case.result()
    headline = str(caught.value).splitlines()[0]
    assert "DeterministicFuture" not in headline
    assert "the result of case j1 (workflow 'ask') is unresolved" in headline


class Clerk(pykka.ThreadingActor):
    """Asks itself while handling a message: a one-actor deadlock."""

    def on_receive(self, message):
        return self.actor_ref.ask({"again": message})


def test_a_deadlock_waiting_on_an_ask_names_the_actor_and_the_message():
    with Harness([order_flow], seed=1) as h:
        clerk = h.actor(Clerk)
        with pytest.raises(Deadlock) as caught:
            clerk.ask("hello")
    headline = str(caught.value).splitlines()[0]
    assert "DeterministicFuture" not in headline
    assert "clerk's reply to {'again': 'hello'} is unresolved" in headline


class Desk(pykka.ThreadingActor):
    """Asks itself through its proxy while handling a call: a one-actor deadlock."""

    def reserve(self, sku):
        return self.actor_ref.proxy().level(sku).get()

    def level(self, sku):
        return 3


def test_a_deadlock_waiting_on_a_proxy_call_names_the_call():
    # pykka's ProxyCall has a long repr, which reprlib cut to "ProxyCall(att...,), kwargs={})".
    with Harness([order_flow], seed=1) as h:
        desk = h.actor(Desk)
        with pytest.raises(Deadlock) as caught:
            desk.proxy().reserve("sku-1").get()
    headline = str(caught.value).splitlines()[0]
    assert "desk's reply to level('sku-1') is unresolved" in headline, headline


def test_fail_raises_invariant_violation_with_the_seed():
    with Harness([order_flow], seed=7) as h:
        h.schedule("order", {})
        h.finish()
        with pytest.raises(InvariantViolation, match="my own check failed") as caught:
            h.fail("my own check failed")
    assert "seed: 7" in str(caught.value)
    assert isinstance(caught.value, AssertionError)


@pytest.mark.parametrize("task", [price, price_in_context])
def test_a_task_returning_a_non_dict_is_named_when_the_next_step_fails_on_it(task):
    with Harness([priced_flow(task)], seed=1) as h:
        case = h.schedule("priced", {"amount": 3})
        h.finish()
    job = case.result()
    assert job.state is JobState.FAULTED
    assert job.error is not None
    assert job.error.startswith("step 'ship': TypeError")  # where it failed
    assert "the job's data is int 6, which the task of step 'price' returned" in job.error


class _Ledger(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def add(self, amount: int, *, note: str = "") -> int:
        self.total += amount
        return self.total


def test_the_trace_names_the_method_a_user_actor_is_asked_to_run() -> None:
    """A lost update's trace must tell a read from a write: the call, not just ProxyCall."""
    ledgers: dict[str, Any] = {}
    flow = Workflow("book", start="add", steps=[
        Sequential("add", lambda d: {**d, "t": ledgers["l"].proxy().add(2, note="x").get()}),
    ])  # fmt: skip
    with Harness([flow], seed=1) as h:
        ledger = h.actor(_Ledger)
        ledger.proxy().total = 40
        ledgers["l"] = ledger
        h.schedule("book", {})
        assert h.finish()[0].data == {"t": 42}
        calls = [(e.action, e.detail) for e in h.trace if e.actor == "_ledger"]
    assert ("ProxySetAttr", "total = 40") in calls
    assert ("ProxyCall", "add(2, note='x')") in calls


def test_schedule_and_schedule_many_take_a_version_and_ids_as_the_mediator_does() -> None:
    v1 = Workflow("pay", start="a", steps=[Sequential("a", lambda d: {**d, "v": 1})])
    v2 = Workflow("pay", start="a", version=2, steps=[Sequential("a", lambda d: {**d, "v": 2})])
    with Harness([v1, v2], seed=2) as h:
        old = h.schedule("pay", {}, version=1, job_id="order-1")
        batch = h.schedule_many("pay", [{}, {}], version=1, job_ids=["order-2", "order-3"])
        newest = h.schedule("pay", {})
        with pytest.raises(ValueError, match="2 job_ids for 1 items"):
            h.schedule_many("pay", [{}], job_ids=["x", "y"])
        with pytest.raises(JobExistsError, match="'order-2'"):
            h.schedule_many("pay", [{}], job_ids=["order-2"])
        h.finish()
    assert [s.job_id for s in (old, *batch)] == ["order-1", "order-2", "order-3"]
    assert [s.result().data for s in (old, *batch, newest)] == [{"v": 1}] * 3 + [{"v": 2}]


def test_a_told_schedule_refused_under_the_harness_leaves_the_scheduler_running() -> None:
    from actors.messages import Schedule

    flow = Workflow("pay", start="a", steps=[Sequential("a", lambda d: None)])
    with Harness([flow], seed=3) as h:
        h.mediator.scheduler.tell(Schedule("nope", {}))
        h.run_until_quiescent()
        assert h.mediator.scheduler.is_alive()
        h.schedule("pay", {})
        assert [job.state for job in h.finish()] == [JobState.DONE]
