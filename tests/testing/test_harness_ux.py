"""What a user meets using the harness from its docs: clear errors for misuse, readable reports.

Each test is user code doing what a first-time user did: the mistake, and the error or
report that must tell them what went wrong.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors import JobExistsError, JobState, RequestReaction, Sequential, Workflow
from actors.testing import Deadlock, Harness, HarnessError, InvariantViolation, strategies


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


def test_scheduling_on_a_closed_harness_says_it_is_closed():
    h = Harness([order_flow], seed=1)
    h.close()
    with pytest.raises(HarnessError, match=r"schedule\(\): this Harness is closed"):
        h.schedule("order", {})


def test_a_harness_used_after_its_with_block_says_it_is_closed_not_deadlock():
    with Harness([order_flow], seed=1) as h:
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


def test_fault_plans_refuses_one_point_name_given_as_a_str():
    with pytest.raises(TypeError, match=r"points=\('before_save',\).*before_step, before_save"):
        strategies.fault_plans(points="before_save")  # type: ignore[arg-type]


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
