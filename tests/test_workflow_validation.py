"""Every malformed definition is a WorkflowDefinitionError naming the workflow and the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from flows import setter

from actors import (
    DeferredChoice,
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
    Synchronize,
    Wait,
    Workflow,
    WorkflowDefinitionError,
)

noop = setter("x")


def noop2(data: Any, ctx: Any) -> None:
    """A request's send: takes the data and the context."""


def fails(match: str, steps: list, start: str = "a", name: str = "flow") -> None:
    with pytest.raises(WorkflowDefinitionError, match=match) as info:
        Workflow(name, steps, start=start)
    assert f"workflow {name!r}" in str(info.value)


def test_error_is_a_value_error() -> None:
    assert issubclass(WorkflowDefinitionError, ValueError)


def test_duplicate_step_names() -> None:
    fails(r"step 'a': the name is used twice", [Sequential("a", noop), Sequential("a", noop)])


def test_unknown_start() -> None:
    fails(r"start='nope' names no step; choose one of \['a'\]", [Sequential("a", noop)], "nope")


def test_unknown_next() -> None:
    fails(r"step 'a': next='b' names no step", [Sequential("a", noop, next="b")])


def test_unknown_fault_next() -> None:
    fails(r"step 'a': fault_next='z' names no step", [Sequential("a", noop, fault_next="z")])


def test_unknown_branch() -> None:
    steps = [ParallelSplit("a", branches=["b", "ghost"]), Sequential("b", noop)]
    fails(r"step 'a': branch='ghost' names no step", steps)


def test_split_with_one_branch() -> None:
    steps = [ParallelSplit("a", branches=["b"]), Sequential("b", noop)]
    fails(r"step 'a': a split needs two or more branches", steps)


def test_split_with_a_string_for_branches() -> None:
    steps = [ParallelSplit("a", branches="bc"), Sequential("b", noop), Sequential("c", noop)]
    fails(r"step 'a': a split needs two or more branches", steps)


def test_dynamic_split_without_each() -> None:
    steps = [ParallelSplit("a", branches=lambda d: [1, 2])]
    fails(r"step 'a': a split with a branches function needs each='step'", steps)


def test_unreachable_step() -> None:
    fails(
        r"step 'orphan': no path from start 'a' reaches it",
        [Sequential("a", noop), Sequential("orphan", noop)],
    )


def test_synchronize_no_split_reaches() -> None:
    steps = [Sequential("a", noop, next="join"), Synchronize("join")]
    fails(r"step 'join': no ParallelSplit's branches reach this Synchronize", steps)


def test_discriminator_no_split_reaches() -> None:
    steps = [Sequential("a", noop, next="first"), Discriminator("first")]
    fails(r"step 'first': no ParallelSplit's branches reach this Discriminator", steps)


def test_wait_without_next() -> None:
    fails(r"step 'a': next is required", [Wait("a", duration=1)])


def test_wait_with_negative_duration() -> None:
    steps = [Wait("a", duration=-1, next="b"), Sequential("b", noop)]
    fails(r"step 'a': duration must be seconds >= 0", steps)


def test_an_on_timeout_without_a_timeout_is_refused() -> None:
    """A forgotten timeout= left the job waiting for good: its on_timeout never came."""
    steps = [Sequential("reject", noop), Sequential("b", noop)]
    request = RequestReaction("a", send=noop2, next="b", on_timeout="reject")
    choice = DeferredChoice("a", events={"go": "b"}, on_timeout="reject")
    why = r"step 'a': on_timeout='reject' is never taken without a timeout; give the step timeout="
    fails(why, [request, *steps])
    fails(why, [choice, *steps])
    Workflow(
        "flow",
        [RequestReaction("a", noop2, next="b", timeout=0, on_timeout="reject"), *steps],
        start="a",
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (float("nan"), r"nan is not a finite number of seconds"),
        (float("inf"), r"inf is not a finite number of seconds"),
        (1.7e12, r"1700000000000.0 seconds is more than a century \(a time in milliseconds\?\)"),
        ("5", r"'5' is not a number of seconds"),
        (True, r"True is not a number of seconds"),
    ],
)
def test_a_wait_or_timeout_no_timer_can_hold_is_refused(seconds: Any, words: str) -> None:
    """A nan, an infinity or a century stopped every timer of the engine, not one case."""
    end = Sequential("b", noop)
    fails(rf"step 'a': duration must be seconds >= 0: {words}", [Wait("a", seconds, "b"), end])
    request = RequestReaction("a", send=noop2, next="b", timeout=seconds)
    fails(rf"step 'a': timeout must be seconds >= 0 or None: {words}", [request, end])
    choice = DeferredChoice("a", events={"go": "b"}, timeout=seconds)
    fails(rf"step 'a': timeout must be seconds >= 0 or None: {words}", [choice, end])
    retry = Sequential("a", noop, next="b", retry=Retry(backoff=seconds))
    fails(rf"step 'a': retry.backoff: {words}", [retry, end])


def test_task_that_is_not_callable() -> None:
    fails(r"step 'a': task must be a callable, got 'reserve'", [Sequential("a", "reserve")])


def test_missing_task() -> None:
    fails(r"step 'a': task must be a callable, got None", [Sequential("a")])


def test_spec_that_is_not_callable() -> None:
    steps = [
        ExclusiveChoice("a", spec=42, if_true="b", if_false="b"),
        Sequential("b", noop),
    ]
    fails(r"step 'a': spec must be a callable, got 42", steps)


def test_choice_with_unknown_target() -> None:
    steps = [
        ExclusiveChoice("a", spec=Spec(bool), if_true="b", if_false="c"),
        Sequential("b", noop),
    ]
    fails(r"step 'a': if_false='c' names no step", steps)


def test_choice_without_a_target_names_the_missing_one() -> None:
    steps = [ExclusiveChoice("a", spec=Spec(bool), if_true="b"), Sequential("b", noop)]
    fails(r"step 'a': if_false is required; name the step", steps)
    steps = [ExclusiveChoice("a", spec=Spec(bool), if_false="b"), Sequential("b", noop)]
    fails(r"step 'a': if_true is required; name the step", steps)


def test_bad_retry_policy() -> None:
    fails(r"retry needs attempts >= 1", [Sequential("a", noop, retry=Retry(attempts=0))])
    fails(r"retry must be a Retry", [Sequential("a", noop, retry=3)])
    fails(r"retry.on must be exception types", [Sequential("a", noop, retry=Retry(on=("x",)))])


def test_request_reaction_without_send() -> None:
    fails(r"step 'a': send must be a callable", [RequestReaction("a", send=None)])


def test_deferred_choice_without_events() -> None:
    fails(r"step 'a': a deferred choice needs at least one event", [DeferredChoice("a")])
    fails(
        r"step 'a': fault_next is empty; name a step, or leave it out",
        [DeferredChoice("a", events={"x": "b"}, fault_next=""), Sequential("b", noop)],
    )
    fails(
        r"step 'a': fault_next='gone' names no step",
        [DeferredChoice("a", events={"x": "b"}, fault_next="gone"), Sequential("b", noop)],
    )
    fails(
        r"step 'a': on_fault must be a callable",
        [DeferredChoice("a", events={"x": "b"}, on_fault="undo"), Sequential("b", noop)],  # type: ignore[arg-type]
    )


def test_not_a_step() -> None:
    fails(r"is not a step", [Sequential("a", noop), "b"])


def test_empty_workflow() -> None:
    fails(r"at least one step", [])


def test_bad_version() -> None:
    with pytest.raises(WorkflowDefinitionError, match="version"):
        Workflow("flow", [Sequential("a", noop)], start="a", version=0)


def test_a_version_past_what_a_store_keeps_is_refused_when_built(tmp_path: Path) -> None:
    # Accepted, it made a Mediator on SQLite fail as it started, with a bare
    # "OverflowError: Python int too large to convert to SQLite INTEGER".
    refused = "version must be an int from 1 to 9223372036854775807, got 9223372036854775808"
    with pytest.raises(WorkflowDefinitionError, match=f"workflow 'flow': {refused}"):
        Workflow("flow", [Sequential("a", noop)], start="a", version=2**63)
    largest = Workflow("flow", [Sequential("a", noop)], start="a", version=2**63 - 1)
    with Mediator([largest], store=f"sqlite:///{tmp_path / 'jobs.db'}") as mediator:
        job = mediator.schedule("flow", {}).result(timeout=TIMEOUT)
    assert (job.state, job.version) == (JobState.DONE, 2**63 - 1)


def test_valid_workflow_with_loop_and_merge() -> None:
    flow = Workflow(
        "loop",
        [
            Sequential("a", noop, next="check"),
            ExclusiveChoice("check", Spec(lambda d: d["n"] < 3), if_true="a", if_false="merge"),
            SimpleMerge("merge"),
        ],
        start="a",
        version=2,
    )
    assert flow.key == ("loop", 2)
    assert list(flow.steps) == ["a", "check", "merge"]
    with pytest.raises(KeyError, match="workflow 'loop' v2 has no step 'zz'"):
        flow.step("zz")


def test_spec_composition_describes_itself() -> None:
    big = Spec(lambda d: d["total"] > 100, "big")
    vip = Spec(lambda d: d["vip"], "vip")
    review = big & ~vip
    assert review.description == "(big & ~vip)"
    assert review({"total": 500, "vip": False})
    assert not review({"total": 500, "vip": True})
    assert (big | vip)({"total": 1, "vip": True})
    with pytest.raises(TypeError, match="callable predicate"):
        Spec(3)  # type: ignore[arg-type]


def test_a_loop_no_run_could_leave_is_refused_naming_its_steps() -> None:
    fails(r"step 'a': the steps \['a'\] loop for ever", [Sequential("a", noop, next="a")])
    steps = [Sequential("a", noop, next="b"), Sequential("b", noop, next="a")]
    fails(r"step 'a': the steps \['a', 'b'\] loop for ever: no step leads out", steps)
    both_ways_back = [
        Sequential("a", noop, next="c"),
        ExclusiveChoice("c", spec=bool, if_true="a", if_false="b"),
        Sequential("b", noop, next="a"),
    ]
    fails(r"the steps \['a', 'c', 'b'\] loop for ever", both_ways_back)


def test_a_loop_through_a_split_whose_other_branch_leaves_it_is_refused() -> None:
    # A split takes every branch: one that leaves the loop does not take the loop's thread
    # of control with it. Each turn spawned another branch and another parent waiting
    # for its branches, with no step between the turns that waits (about 6,000 jobs a
    # second in memory, for ever, and a store that filled up).
    forks = [
        Sequential("poll", noop, next="split"),
        ParallelSplit("split", branches=["again", "notify"]),
        Sequential("again", noop, next="poll"),
        Sequential("notify", noop),
    ]
    message = (
        r"step 'poll': the steps \['poll', 'split', 'again'\] loop for ever: no step leads "
        r"out of them \(split 'split' goes on in its branch that stays\) and none waits"
    )
    fails(message, forks, start="poll")
    first_back = [*forks[:2], Sequential("again", noop, next="first")]
    first_back += [Discriminator("first", next="poll"), forks[3]]
    loop = r"the steps \['poll', 'split', 'again', 'first'\] loop for ever"
    fails(loop, first_back, start="poll")
    # A Synchronize in the loop needs the branch that left: the run faults at its first
    # turn ("the others ended without reaching it"), so the loop is left, as a fault.
    joined = [*forks[:2], Sequential("again", noop, next="join")]
    Workflow("faults", [*joined, Synchronize("join", next="poll"), forks[3]], start="poll")
    # A branch that comes back through a step that waits, or a choice that leaves.
    napping = [*forks[:2], Wait("again", 60, next="poll"), forks[3]]
    Workflow("napping", napping, start="poll")
    leaving = [*forks[:2], ExclusiveChoice("again", spec=bool, if_true="poll", if_false="end")]
    Workflow("leaving", [*leaving, forks[3], end("end")], start="poll")


def test_a_loop_with_a_way_out_or_a_wait_is_a_workflow_of_its_own() -> None:
    with_exit = [
        Sequential("a", noop, next="c"),
        ExclusiveChoice("c", spec=bool, if_true="a", if_false="end"),
        Sequential("end", noop),
    ]
    Workflow("retrying", with_exit, start="a")
    polling = [Sequential("a", noop, next="nap"), Wait("nap", 3600, next="a")]
    Workflow("hourly", polling, start="a")  # runs for ever, a job parked between rounds


def test_mistakes_in_a_definition_are_named() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"steps must be a list of steps, got a"):
        Workflow("w", Sequential("a", noop), start="a")  # type: ignore[arg-type]
    bad_fault = Sequential("a", noop, on_fault=lambda d: d, fault_next="b")
    fails(r"on_fault takes 1 positional parameter\(s\) but is called with 2", [bad_fault, end()])
    listed = DeferredChoice("a", events=["b"])  # type: ignore[arg-type]
    fails(r"events must map event names to steps, got \['b'\]", [listed, end()])
    split = ParallelSplit("a", branches=["b", "c"], each="b")
    fails(r"each= is for a branches function", [split, end(), Sequential("c", noop)])
    fails(r"a step name must not hold '/'", [Sequential("a", noop, next="b/c"), end("b/c")])
    slashed = DeferredChoice("a", events={"x/y": "b"})
    fails(r"event names are non-empty strings without '/'", [slashed, end()])


def test_retry_on_takes_one_exception_type_or_several() -> None:
    one = Retry(on=ValueError)
    assert one.on == (ValueError,)
    Workflow("w", [Sequential("a", noop, retry=one)], start="a")
    fails(r"retry.on must be exception types", [Sequential("a", noop, retry=Retry(on=(str,)))])


def end(name: str = "b") -> Sequential:
    return Sequential(name, noop)


def test_a_loop_a_job_may_end_in_is_left_alone() -> None:
    """A step with no next ends the job; a fault handled with no fault_next ends it DONE."""
    Workflow("until_it_works", [Sequential("a", noop, fault_next="a")], start="a")
    handled = [Sequential("a", noop, next="b"), Sequential("b", noop, next="a", on_fault=seen)]
    Workflow("until_it_fails", handled, start="a")


def seen(data: Any, error: Any) -> None:
    """An on_fault handler: takes the data and the error."""


def test_a_name_no_store_can_keep_is_refused() -> None:
    lone = b"x\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(WorkflowDefinitionError, match="is not text a store can keep"):
        Workflow(lone, [Sequential("a", noop)], start="a")
    fails(r"is not text a store can keep", [Sequential("a\x00", noop)], start="a\x00")
    choice = DeferredChoice("a", events={lone: "b"})
    fails(r"event names are non-empty strings without '/'", [choice, end()])


@pytest.mark.parametrize("name", [".", ".."])
def test_a_name_that_reads_as_a_path_is_refused(name: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match="reads as a path"):
        Workflow(name, [Sequential("a", noop)], start="a")


def test_a_duration_of_a_huge_int_is_named_not_an_overflow() -> None:
    steps = [Wait("a", 10**400, "b"), end()]
    fails(r"duration must be seconds >= 0: \d+ seconds is more than a century", steps)


def test_a_negative_max_backoff_is_refused() -> None:
    steps = [Sequential("a", noop, retry=Retry(max_backoff=-5))]
    fails(r"retry needs attempts >= 1, backoff >= 0, max_backoff >= 0", steps)


def test_a_retry_out_of_range_names_the_values_that_are() -> None:
    """The rule alone left the reader to find which of four values broke it."""
    fails(
        r"multiplier >= 1; got max_backoff=-5$",
        [Sequential("a", noop, retry=Retry(max_backoff=-5))],
    )
    retry = Retry(attempts=0, backoff=-1, multiplier=0.5)
    fails(r"; got attempts=0, backoff=-1, multiplier=0.5$", [Sequential("a", noop, retry=retry)])


def test_a_merge_spec_branches_or_duration_the_engine_cannot_call_is_refused() -> None:
    """Each is called with fixed arguments: a wrong count is named before anything runs."""

    def joined(join: Any) -> list:
        branches = [Sequential("b", noop, next="j"), Sequential("c", noop, next="j")]
        return [ParallelSplit("a", branches=["b", "c"]), *branches, join]

    two = r"merge takes 1 positional parameter\(s\) but is called with 2 \(the parent's data"
    for kind in (Synchronize, Discriminator):
        fails(r"step 'j': " + two, joined(kind("j", merge=lambda parent: parent)))
    three = Synchronize("j", merge=lambda parent, branches, extra: parent)
    fails(r"step 'j': merge needs extra, which the engine never passes", joined(three))
    choice = ExclusiveChoice("a", spec=lambda: True, if_true="b", if_false="b")
    fails(r"step 'a': spec takes 0 positional parameter\(s\) but is called with 1", [choice, end()])
    each = ParallelSplit("a", branches=lambda: [1, 2], each="b")
    fails(r"step 'a': branches takes 0 positional parameter\(s\)", [each, end()])
    wait = Wait("a", duration=lambda data, extra: 5, next="b")
    fails(r"step 'a': duration needs extra, which the engine never passes", [wait, end()])
    # The message names what the engine passes: here a reply's payload.
    reply = RequestReaction("a", send=noop2, on_reply=lambda d: d, next="b")
    fails(r"on_reply takes 1 .* with 2 \(the data and the reply's payload\)", [reply, end()])
    # Callables the engine can call pass: defaults, *args, builtins.
    Workflow("ok", [ExclusiveChoice("a", spec=bool, if_true="b", if_false="b"), end()], start="a")
    Workflow("ok", joined(Synchronize("j", merge=lambda parent, *branches: parent)), start="a")
    Workflow("ok", [Wait("a", duration=lambda data, scale=2: 5, next="b"), end()], start="a")


def test_a_split_whose_branches_can_never_meet_at_one_join_is_refused() -> None:
    """Each branch reaches only a Synchronize of its own: no run could ever join them."""
    apart = [
        ParallelSplit("a", branches=["b", "c"]),
        Sequential("b", noop, next="j1"),
        Sequential("c", noop, next="j2"),
        Synchronize("j1"),
        Synchronize("j2"),
    ]
    fails(r"step 'a': its branches can never meet at one Synchronize: 'b' reaches \['j1'\], "
          r"'c' reaches \['j2'\]", apart)  # fmt: skip
    # A nested split whose branches skip its join for the outer one: named the same way.
    nested = [
        ParallelSplit("a", branches=["x", "y"]),
        ParallelSplit("x", branches=["p", "q"]),
        Sequential("p", noop, next="inner"),
        Sequential("q", noop, next="outer"),
        Synchronize("inner", next="outer"),
        Sequential("y", noop, next="outer"),
        Synchronize("outer"),
    ]
    fails(r"step 'x': its branches can never meet .* 'p' reaches \['inner'\], 'q'", nested)
    # Left to the run: a choice that may send every branch to one join, a Discriminator
    # (the first arrival wins), a branch that may end without a join.
    routed = ExclusiveChoice("r", spec=bool, if_true="j1", if_false="j2")
    Workflow("ok", [*apart[:2], Sequential("c", noop, next="r"), routed, *apart[3:]], start="a")
    first = [*apart[:3], Discriminator("j1"), Synchronize("j2")]
    Workflow("ok", first, start="a")
    ends = [*apart[:2], Sequential("c", noop), Synchronize("j1")]
    Workflow("ok", ends, start="a")


def test_an_async_or_generator_function_is_refused_where_its_result_is_used() -> None:
    """Called synchronously, it would hand the engine a coroutine or a generator."""

    async def charge(data: Any) -> None:
        data["charged"] = True

    async def holds(data: Any) -> bool:
        return True

    def lines(data: Any) -> Any:
        yield from data["lines"]

    class Handler:
        async def __call__(self, data: Any) -> None:
            pass

    fails(r"step 'a': task is an async function \(async def\)", [Sequential("a", charge)])
    fails(r"step 'a': task is an async function", [Sequential("a", Handler())])
    choice = ExclusiveChoice("a", spec=holds, if_true="b", if_false="b")
    fails(r"step 'a': spec is an async function", [choice, end()])  # it always held
    fails(r"step 'a': task is a generator function \(it yields\)", [Sequential("a", lines)])
    # A split's branches function may yield its items: one branch per item.
    each = ParallelSplit("a", branches=lines, each="b")
    Workflow("ok", [each, end()], start="a")


def test_a_join_the_root_reaches_through_no_split_is_refused() -> None:
    """A path from start to a join that passes no split: the job there is no branch."""
    steps = [
        ExclusiveChoice("a", spec=bool, if_true="split", if_false="alone"),
        ParallelSplit("split", branches=["b", "c"]),
        Sequential("b", noop, next="j"),
        Sequential("c", noop, next="j"),
        Sequential("alone", noop, next="j"),  # the bug: no split on this path
        Synchronize("j", next="end"),
        Sequential("end", noop),
    ]
    fails(r"step 'j': a path from start 'a' reaches this join through no ParallelSplit", steps)
    # After its split's join the root goes on; a loop back to the split splits again.
    again = ExclusiveChoice("end", spec=bool, if_true="split", if_false="out")
    Workflow("ok", [*steps[1:4], Synchronize("j", next="end"), again, end("out")], start="split")
