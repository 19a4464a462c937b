"""Each step kind end to end, on real threads (Mediator with the threading runtime)."""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from bounds import TIMEOUT
from flows import setter, workload_w

from actors import (
    Discriminator,
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Retry,
    Sequential,
    SimpleMerge,
    Spec,
    StepContext,
    Synchronize,
    Workflow,
    WorkflowDefinitionError,
)
from actors.stores import register_dataclass
from actors.testing import Harness


def run(flow: Workflow, data: Any, **kw: Any) -> Any:
    with Mediator([flow], runners=kw.pop("runners", 3), **kw) as mediator:
        return mediator.schedule(flow.name, data).result(timeout=TIMEOUT)


def test_sequence_runs_steps_in_order() -> None:
    def add(n: int) -> Any:
        return lambda d: d["trail"].append(n)

    flow = Workflow(
        "seq",
        [
            Sequential("a", add(1), next="b"),
            Sequential("b", add(2), next="c"),
            Sequential("c", add(3)),
        ],
        start="a",
    )
    job = run(flow, {"trail": []})
    assert job.state is JobState.DONE
    assert job.data == {"trail": [1, 2, 3]}
    assert job.step == "c"
    assert job.parent_id is None
    assert job.case_id == job.id


def test_task_may_return_replacement_data() -> None:
    flow = Workflow("ret", [Sequential("a", lambda d: d + 1)], start="a")
    assert run(flow, 41).data == 42


def test_task_with_context_gets_idempotency_key() -> None:
    seen: list[StepContext] = []

    def task(data: dict[str, Any], ctx: StepContext) -> None:
        seen.append(ctx)

    flow = Workflow("ctx", [Sequential("a", task)], start="a")
    job = run(flow, {})
    (ctx,) = seen
    assert ctx.job_id == job.id
    assert ctx.step == "a"
    assert ctx.attempt == 1
    assert ctx.idempotency_key == f"{job.id}:a:1"
    assert ctx.correlation_id == f"{job.id}/a"


def test_a_context_parameter_with_a_default_gets_the_context_too() -> None:
    """``def charge(order, ctx=None)``: written to run outside the engine too; keyed inside."""
    keys: list[Any] = []

    def charge(data: dict[str, Any], ctx: StepContext | None = None) -> None:
        keys.append(None if ctx is None else ctx.idempotency_key)

    job = run(Workflow("pay", [Sequential("charge", charge)], start="charge"), {})
    assert keys == [f"{job.id}:charge:1"]


def test_each_pass_of_a_loop_through_a_step_has_the_same_key() -> None:
    """What the guarantees page says: a loop's passes share a key; add the pass to it."""
    keys: list[str] = []

    def charge(data: dict[str, Any], ctx: StepContext) -> None:
        keys.append(ctx.idempotency_key)
        data["round"] = data.get("round", 0) + 1

    flow = Workflow(
        "loop",
        [
            Sequential("charge", charge, next="again"),
            ExclusiveChoice(
                "again", spec=lambda d: d["round"] < 2, if_true="charge", if_false="end"
            ),
            Sequential("end", lambda d: None),
        ],
        start="charge",
    )
    job = run(flow, {})
    assert keys == [f"{job.id}:charge:1"] * 2


@pytest.mark.parametrize(
    ("task", "why"),
    [
        (lambda: None, r"takes 0 positional parameter\(s\) but is called with 1"),
        (lambda data, ctx, extra: None, r"needs extra, which the engine never passes"),
        (lambda data, *, limit: None, r"needs keyword-only limit"),
        (lambda data, *, context=None: None, r"takes context as a keyword-only parameter"),
    ],
)
def test_a_task_the_engine_could_never_call_is_refused_where_it_is_defined(
    task: Any, why: str
) -> None:
    with pytest.raises(WorkflowDefinitionError, match=rf"step 'pay': task {why}"):
        Workflow("pay", [Sequential("pay", task)], start="pay")


def test_a_request_send_must_take_the_data_and_the_context() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"send takes 1 positional parameter"):
        Workflow("ask", [RequestReaction("ask", send=lambda data: None)], start="ask")


def test_a_keyword_only_ctx_is_refused_where_the_workflow_is_defined() -> None:
    def charge(data: dict[str, Any], *, ctx: StepContext | None = None) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match=r"step 'charge'.*keyword-only.*second"):
        Workflow("pay", [Sequential("charge", charge)], start="charge")


def test_unhandled_error_faults_the_job_with_the_error_recorded() -> None:
    def boom(data: Any) -> None:
        raise RuntimeError("card declined")

    flow = Workflow("f", [Sequential("a", setter("x"), next="b"), Sequential("b", boom)], start="a")
    job = run(flow, {})
    assert job.state is JobState.FAULTED
    assert job.step == "b"
    assert "RuntimeError: card declined" in (job.error or "")
    assert "step 'b'" in (job.error or "")
    assert job.data == {"x": True}


def test_fault_path_handles_the_error() -> None:
    def boom(data: Any) -> None:
        raise ValueError("nope")

    def compensate(data: dict[str, Any], error: BaseException) -> None:
        data["compensated"] = repr(error)

    flow = Workflow(
        "fp",
        [
            Sequential("a", boom, on_fault=compensate, fault_next="after"),
            Sequential("after", setter("after")),
        ],
        start="a",
    )
    job = run(flow, {})
    assert job.state is JobState.DONE
    assert job.data == {"compensated": "ValueError('nope')", "after": True}


def test_retry_without_backoff_then_success() -> None:
    calls: list[int] = []

    def flaky(data: dict[str, Any], ctx: StepContext) -> None:
        calls.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("try again")

    flow = Workflow("r", [Sequential("a", flaky, retry=Retry(attempts=3))], start="a")
    job = run(flow, {})
    assert job.state is JobState.DONE
    assert calls == [1, 2, 3]


def test_retry_only_on_listed_exceptions() -> None:
    calls: list[int] = []

    def bad(data: Any) -> None:
        calls.append(1)
        raise KeyError("k")

    flow = Workflow(
        "r2", [Sequential("a", bad, retry=Retry(attempts=5, on=(ConnectionError,)))], start="a"
    )
    job = run(flow, {})
    assert job.state is JobState.FAULTED
    assert calls == [1]


def test_retry_exhausted_takes_fault_path() -> None:
    def bad(data: Any) -> None:
        raise ConnectionError("down")

    flow = Workflow(
        "r3",
        [
            Sequential("a", bad, retry=Retry(attempts=2), fault_next="fallback"),
            Sequential("fallback", setter("fallback")),
        ],
        start="a",
    )
    job = run(flow, {})
    assert job.state is JobState.DONE
    assert job.data == {"fallback": True}


@pytest.mark.parametrize(("total", "path"), [(500, "manual"), (5, "auto")])
def test_exclusive_choice_with_composed_spec(total: int, path: str) -> None:
    big = Spec(lambda d: d["total"] > 100, "big")
    vip = Spec(lambda d: d.get("vip", False), "vip")
    flow = Workflow(
        "choice",
        [
            ExclusiveChoice("route", big & ~vip, if_true="manual", if_false="auto"),
            Sequential("manual", setter("path", "manual"), next="merge"),
            Sequential("auto", setter("path", "auto"), next="merge"),
            SimpleMerge("merge", next="end"),
            Sequential("end", setter("end")),
        ],
        start="route",
    )
    job = run(flow, {"total": total})
    assert job.data["path"] == path
    assert job.data["end"] is True


def test_workload_w_split_and_join() -> None:
    job = run(workload_w(), {})
    assert job.state is JobState.DONE
    expected = {"a", "b"} | {f"b{b}s{s}" for b in range(4) for s in range(3)}
    assert set(job.data) == expected


def test_each_branch_gets_its_own_copy() -> None:
    def branch(tag: str) -> Any:
        def task(data: dict[str, Any]) -> None:
            data["items"].append(tag)
            data[f"seen_{tag}"] = list(data["items"])

        return task

    flow = Workflow(
        "copies",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", branch("x"), next="join"),
            Sequential("y", branch("y"), next="join"),
            Synchronize("join", merge=lambda parent, branches: {"branches": branches}),
        ],
        start="split",
    )
    job = run(flow, {"items": []})
    assert job.data == {
        "branches": [
            {"items": ["x"], "seen_x": ["x"]},
            {"items": ["y"], "seen_y": ["y"]},
        ]
    }


def test_default_merge_updates_in_branch_order() -> None:
    flow = Workflow(
        "order",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", setter("who", "x"), next="join"),
            Sequential("y", setter("who", "y"), next="join"),
            Synchronize("join"),
        ],
        start="split",
    )
    assert run(flow, {}).data == {"who": "y"}


def test_dynamic_split_runs_one_instance_per_item() -> None:
    def total(parent: dict[str, Any], branches: list[dict[str, Any]]) -> dict[str, Any]:
        return {"sum": sum(b["n"] for b in branches)}

    flow = Workflow(
        "many",
        [
            ParallelSplit("fan", branches=lambda d: [{"n": n} for n in d["ns"]], each="square"),
            Sequential("square", lambda d: d.update(n=d["n"] ** 2), next="join"),
            Synchronize("join", merge=total),
        ],
        start="fan",
    )
    assert run(flow, {"ns": [1, 2, 3, 4, 5, 6, 7]}).data == {"sum": 140}


def test_a_dynamic_join_sees_the_branches_in_item_order_whatever_order_they_arrive() -> None:
    arrived: list[str] = []

    def collect(order: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        order["merged"] = [line["sku"] for line in lines]

    flow = Workflow("order", start="lines", steps=[
        ParallelSplit("lines", branches=lambda d: d["lines"], each="price"),
        Sequential("price", lambda line: arrived.append(line["sku"]), next="collect"),
        Synchronize("collect", merge=collect),
    ])  # fmt: skip
    skus = ["a", "b", "c", "d"]
    orders = set()
    for seed in range(20):  # the harness's chooser runs the branches in varied orders
        arrived.clear()
        with Harness([flow], runners=4, seed=seed) as h:
            h.schedule("order", {"lines": [{"sku": sku} for sku in skus]})
            (job,) = h.finish()
        assert job.data["merged"] == skus, seed
        orders.add(tuple(arrived))
    assert len(orders) > 1, "every seed ran the branches in one order: nothing was shown"


def test_the_splitting_job_waits_with_its_data_as_at_the_split_and_merge_gets_that() -> None:
    """docs/how-to/fan-out.md: the splitting job waits with its data as at the split.

    It is ``WAITING`` while its branches run, and the join's merge receives that data.
    """
    entered = threading.Semaphore(0)
    release = threading.Event()
    merged_from: list[dict[str, Any]] = []

    def price(line: dict[str, Any]) -> None:
        line["priced"] = True  # a branch's own copy of its line
        entered.release()
        assert release.wait(TIMEOUT)

    def collect(order: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        merged_from.append(copy.deepcopy(order))
        order["priced"] = [line["sku"] for line in lines if line["priced"]]

    flow = Workflow("order", start="prepare", steps=[
        Sequential("prepare", setter("prepared"), next="lines"),
        ParallelSplit("lines", branches=lambda d: d["lines"], each="price"),
        Sequential("price", price, next="collect"),
        Synchronize("collect", merge=collect),
    ])  # fmt: skip
    order = {"lines": [{"sku": "tea"}, {"sku": "cups"}]}
    at_split = {**copy.deepcopy(order), "prepared": True}
    with Mediator([flow], runners=2) as m:
        handle = m.schedule("order", order)
        for _ in order["lines"]:
            assert entered.acquire(timeout=TIMEOUT)  # both branches are inside their step
        waiting = m.get_job(handle.job_id)
        release.set()
        job = handle.result(timeout=TIMEOUT)
    assert (waiting.state, waiting.step, waiting.data) == (JobState.WAITING, "lines", at_split)
    assert merged_from == [at_split]
    assert job.data == {**at_split, "priced": ["tea", "cups"]}


def test_dynamic_split_with_no_items_faults_clearly() -> None:
    flow = Workflow(
        "none",
        [
            ParallelSplit("fan", branches=lambda d: [], each="x"),
            Sequential("x", setter("x"), next="join"),
            Synchronize("join"),
        ],
        start="fan",
    )
    job = run(flow, {})
    assert job.state is JobState.FAULTED
    assert "returned no instances" in (job.error or "")


def test_a_branches_function_that_raises_faults_the_split_and_starts_no_branch() -> None:
    started: list[Any] = []

    def lines(data: Any) -> list[Any]:
        raise KeyError("lines")

    flow = Workflow(
        "raises",
        [
            ParallelSplit("fan", branches=lines, each="x"),
            Sequential("x", started.append, next="join"),
            Synchronize("join"),
        ],
        start="fan",
    )
    job = run(flow, {})
    assert (job.state, job.step) == (JobState.FAULTED, "fan")
    assert job.error == "step 'fan': could not make the branches: KeyError: 'lines'"
    assert started == []


def test_nested_splits_three_deep() -> None:
    steps: list[Any] = [ParallelSplit("s0", branches=["s1a", "s1b"])]
    for side in "ab":
        steps.append(ParallelSplit(f"s1{side}", branches=[f"s2{side}x", f"s2{side}y"]))
        for leaf in "xy":
            steps.append(
                ParallelSplit(f"s2{side}{leaf}", branches=[f"t{side}{leaf}1", f"t{side}{leaf}2"])
            )
            for i in "12":
                steps.append(
                    Sequential(
                        f"t{side}{leaf}{i}", setter(f"{side}{leaf}{i}"), next=f"j2{side}{leaf}"
                    )
                )
            steps.append(Synchronize(f"j2{side}{leaf}", next=f"j1{side}"))
        steps.append(Synchronize(f"j1{side}", next="j0"))
    steps.append(Synchronize("j0", next="done"))
    steps.append(Sequential("done", setter("done")))
    job = run(Workflow("deep", steps, start="s0"), {})
    assert job.state is JobState.DONE
    assert len(job.data) == 9


def test_split_without_join_ends_with_its_last_branch() -> None:
    flow = Workflow(
        "nojoin",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", setter("x")),
            Sequential("y", setter("y")),
        ],
        start="split",
    )
    job = run(flow, {})
    assert job.state is JobState.DONE
    assert job.step == "split"


def test_faulted_branch_faults_the_case() -> None:
    def boom(data: Any) -> None:
        raise RuntimeError("branch broke")

    flow = Workflow(
        "bf",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", setter("x"), next="join"),
            Sequential("y", boom, next="join"),
            Synchronize("join"),
        ],
        start="split",
    )
    job = run(flow, {})
    assert job.state is JobState.FAULTED
    assert "join 'join' got 1 of 2 branches" in (job.error or "")
    assert "branch 1" in (job.error or "")
    # The branch's step is named once, then the failure as the branch stored it.
    assert (job.error or "").endswith(
        "faulted at step 'y': RuntimeError: branch broke (attempt 1)"
    ), job.error


def test_a_branch_that_ends_without_reaching_the_join_faults_the_parent() -> None:
    flow = Workflow(
        "astray",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", setter("x"), next="join"),
            Sequential("y", setter("y")),  # no next: this branch never reaches the join
            Synchronize("join", next="after"),
            Sequential("after", setter("after")),
        ],
        start="split",
    )
    job = run(flow, {})
    assert (job.state, job.step) == (JobState.FAULTED, "split")
    assert job.error == "join 'join' got 1 of 2 branches: the others ended without reaching it"
    assert "after" not in job.data


def test_a_split_without_a_join_faults_when_one_of_its_branches_faults() -> None:
    def boom(data: Any) -> None:
        raise RuntimeError("branch broke")

    flow = Workflow(
        "nojoin_fault",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", setter("x")),
            Sequential("y", boom),
        ],
        start="split",
    )
    job = run(flow, {})
    assert (job.state, job.step) == (JobState.FAULTED, "split")
    assert (job.error or "").startswith("branch 1 (job ")
    assert "RuntimeError: branch broke" in (job.error or "")


def test_discriminator_continues_once_with_the_first_branch() -> None:
    slow_gate = threading.Event()
    continued: list[str] = []
    after_ran = threading.Event()

    def slow(data: dict[str, Any]) -> None:
        slow_gate.wait(TIMEOUT)
        data["slow"] = True

    flow = Workflow(
        "first",
        [
            ParallelSplit("race", branches=["fast", "slow"]),
            Sequential("fast", setter("fast"), next="first"),
            Sequential("slow", slow, next="first"),
            Discriminator("first", next="after"),
            Sequential("after", lambda d: (continued.append("after"), after_ran.set())[0]),
        ],
        start="race",
    )
    with Mediator([flow], runners=2) as mediator:
        handle = mediator.schedule("first", {})
        # The fast branch wins and the parent goes on while the slow one is still inside
        # its step; the slow branch is then cancelled after that step.
        assert after_ran.wait(TIMEOUT)
        slow_gate.set()
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert continued == ["after"]
    assert job.data == {"fast": True}


def test_the_losing_branches_of_a_discriminator_end_cancelled_saying_why() -> None:
    slow_gate = threading.Event()
    slow_began = threading.Event()
    after_ran = threading.Event()
    slow_ids: list[str] = []

    def slow(data: dict[str, Any], ctx: StepContext) -> None:
        slow_ids.append(ctx.job_id)
        slow_began.set()
        slow_gate.wait(TIMEOUT)

    def fast(data: dict[str, Any]) -> None:
        # Wins only once the slow branch runs: a fast branch that ended first would have
        # the slow one cancelled before it began, and this test is about a running loser.
        assert slow_began.wait(TIMEOUT)
        data["fast"] = True

    flow = Workflow(
        "race",
        [
            ParallelSplit("race", branches=["fast", "slow"]),
            Sequential("fast", fast, next="first"),
            Sequential("slow", slow, next="then", fault_next="then"),
            Sequential("then", setter("then"), next="first"),
            Discriminator("first", next="after"),
            Sequential("after", lambda d: after_ran.set()),
        ],
        start="race",
    )
    with Mediator([flow], runners=2) as mediator:
        handle = mediator.schedule("race", {})
        assert after_ran.wait(TIMEOUT)  # the fast branch won while the slow one runs
        slow_gate.set()
        job = handle.result(timeout=TIMEOUT)
        loser = mediator.get_job(slow_ids[0])
    assert job.state is JobState.DONE
    assert loser is not None
    assert loser.state is JobState.CANCELLED
    assert "then" not in loser.data  # no step starts after the cancel
    assert loser.error == "a sibling won the Discriminator"


def test_a_discriminator_no_branch_reaches_faults_naming_it_and_the_lowest_branch() -> None:
    def boom(message: str) -> Any:
        def task(data: Any) -> None:
            raise RuntimeError(message)

        return task

    flow = Workflow(
        "no_winner",
        [
            ParallelSplit("race", branches=["a", "b"]),
            Sequential("a", boom("first"), next="first"),
            Sequential("b", boom("second"), next="first"),
            Discriminator("first", next="after"),
            Sequential("after", setter("after")),
        ],
        start="race",
    )
    job = run(flow, {})  # in whichever order the branches fault
    assert (job.state, job.step) == (JobState.FAULTED, "race")
    assert re.fullmatch(
        r"join 'first' got 0 of 2 branches: 2 branches faulted; branch 0 \(job \w+\) "
        r"faulted at step 'a': RuntimeError: first \(attempt 1\)",
        job.error or "",
    ), job.error


def test_a_split_without_a_join_names_the_lowest_of_its_faulted_branches() -> None:
    def boom(data: Any) -> None:
        raise RuntimeError(f"{data['i']} broke")

    flow = Workflow(
        "no_join",
        [
            ParallelSplit("split", branches=lambda d: [{"i": i} for i in range(5)], each="x"),
            Sequential("x", boom),
        ],
        start="split",
    )
    job = run(flow, {}, runners=3)
    assert (job.state, job.step) == (JobState.FAULTED, "split")
    assert re.fullmatch(  # no join to name: none is reached
        r"5 branches faulted; branch 0 \(job \w+\) faulted at step 'x': "
        r"RuntimeError: 0 broke \(attempt 1\)",
        job.error or "",
    ), job.error


def test_a_join_none_arrived_at_is_the_one_of_the_split_not_of_one_nested_in_a_branch() -> None:
    def boom(data: Any) -> None:
        raise RuntimeError("broke")

    flow = Workflow(
        "nested",
        [
            ParallelSplit("outer", branches=["inner", "y"]),
            ParallelSplit("inner", branches=["p", "q"]),
            Sequential("p", setter("p"), next="inner_join"),
            Sequential("q", setter("q"), next="inner_join"),
            Synchronize("inner_join", next="z"),
            Sequential("z", boom, next="outer_join"),
            Sequential("y", boom, next="outer_join"),
            Synchronize("outer_join"),
        ],
        start="outer",
    )
    job = run(flow, {})
    assert (job.state, job.step) == (JobState.FAULTED, "outer")
    assert re.fullmatch(
        r"join 'outer_join' got 0 of 2 branches: 2 branches faulted; branch 0 \(job \w+\) "
        r"faulted at step 'z': RuntimeError: broke \(attempt 1\)",
        job.error or "",
    ), job.error


def test_loop_back_to_an_earlier_step() -> None:
    flow = Workflow(
        "loop",
        [
            Sequential("inc", lambda d: d.update(n=d["n"] + 1), next="check"),
            ExclusiveChoice("check", Spec(lambda d: d["n"] < 5), if_true="inc", if_false="end"),
            Sequential("end", setter("end")),
        ],
        start="inc",
    )
    assert run(flow, {"n": 0}).data == {"n": 5, "end": True}


def test_split_inside_a_loop_joins_every_round() -> None:
    flow = Workflow(
        "loopsplit",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", lambda d: d.update(x=d.get("x", 0) + 1), next="join"),
            Sequential("y", lambda d: d.update(y=d.get("y", 0) + 1), next="join"),
            Synchronize(
                "join", merge=lambda p, bs: p.update(x=bs[0]["x"], y=bs[1]["y"]), next="round"
            ),
            Sequential("round", lambda d: d.update(r=d["r"] + 1), next="again"),
            ExclusiveChoice("again", Spec(lambda d: d["r"] < 3), if_true="split", if_false="end"),
            Sequential("end", setter("end")),
        ],
        start="split",
    )
    assert run(flow, {"r": 0}).data == {"r": 3, "x": 3, "y": 3, "end": True}


@register_dataclass  # job data is JSON values and registered dataclasses, on every store
@dataclass
class Order:
    id: int
    paid: bool = False


def test_dataclass_data() -> None:
    def pay(order: Order) -> None:
        order.paid = True

    flow = Workflow("dc", [Sequential("pay", pay)], start="pay")
    order = Order(7)
    job = run(flow, order)
    assert job.data == Order(7, paid=True)
    assert order.paid is False  # the case ran on its own copy
