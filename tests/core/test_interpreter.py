"""The step interpreter over any outcome of a step, with no runner, clock or store.

Each test drives ``Interpreter`` the way a runner does (go on while it says ``None``;
release a parked job with a timer or an event) and checks the record and the effects
against a plain model of what the steps promise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from records import record

from actors import (
    DeferredChoice,
    Discriminator,
    ParallelSplit,
    RequestReaction,
    Retry,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors._interpreter import Arrive, End, Interpreter, Park, Request, Split
from actors._job import JobState


class BoomError(Exception):
    pass


@dataclass(frozen=True)
class Link:
    """One Sequential step of a chain: its retry policy and its fault path."""

    retry: Retry | None
    on_fault: str  # "none", "sets" (changes data), "raises"
    fault_next: int | None  # index of a later step, or None


def _links() -> st.SearchStrategy[list[Link]]:
    retries = st.none() | st.builds(
        Retry, attempts=st.integers(1, 3), backoff=st.sampled_from([0.0, 0.5])
    )
    link = st.tuples(retries, st.sampled_from(["none", "sets", "raises"]), st.booleans())
    return st.lists(link, min_size=1, max_size=4).map(
        lambda raw: [
            Link(r, f, len(raw) - 1 if jump and i < len(raw) - 1 else None)
            for i, (r, f, jump) in enumerate(raw)
        ]
    )


def _chain(links: list[Link], script: list[bool], calls: list[tuple[int, int]]) -> Workflow:
    outcomes = iter(script)

    def task(i: int) -> Any:
        def run(data: dict[str, Any], ctx: Any) -> None:
            calls.append((i, ctx.attempt))
            if next(outcomes, False):
                raise BoomError(f"s{i}")
            data[f"s{i}"] = data.get(f"s{i}", 0) + 1

        return run

    def handler(kind: str) -> Any:
        if kind == "none":
            return None
        if kind == "sets":
            return lambda data, exc: {**data, "handled": str(exc)}

        def raises(data: Any, exc: BaseException) -> None:
            raise ValueError("handler broke")

        return raises

    steps = [
        Sequential(
            f"s{i}",
            task(i),
            next=f"s{i + 1}" if i + 1 < len(links) else None,
            retry=link.retry,
            on_fault=handler(link.on_fault),
            fault_next=None if link.fault_next is None else f"s{link.fault_next}",
        )
        for i, link in enumerate(links)
    ]
    return Workflow("chain", steps, "s0")


def _model(links: list[Link], script: list[bool]) -> tuple[list[Any], list[float], Any, int]:
    """(calls, park delays, final state, final step index) the steps' docs promise."""
    calls: list[tuple[int, int]] = []
    parks: list[float] = []
    outcomes = iter(script)
    i, attempt = 0, 1
    while True:
        calls.append((i, attempt))
        link = links[i]
        if not next(outcomes, False):
            if i + 1 == len(links):
                return calls, parks, JobState.DONE, i
            i, attempt = i + 1, 1
            continue
        if link.retry is not None and attempt < link.retry.attempts:
            delay = link.retry.delay(attempt)
            attempt += 1
            if delay > 0:
                parks.append(delay)
            continue
        if (link.on_fault == "none" and link.fault_next is None) or link.on_fault == "raises":
            return calls, parks, JobState.FAULTED, i
        if link.fault_next is None:
            return calls, parks, JobState.DONE, i
        i, attempt = link.fault_next, 1


@given(_links(), st.lists(st.booleans(), max_size=12))
def test_a_chain_of_tasks_retries_and_faults_as_its_steps_say(
    links: list[Link], script: list[bool]
) -> None:
    calls: list[tuple[int, int]] = []
    wf = _chain(links, script, calls)
    interpreter = Interpreter(None)
    job = record(workflow="chain", step="s0", data={})
    parks: list[float] = []
    for _ in range(100):
        effect = interpreter.step(job, wf.steps[job.step or ""], wf)
        if isinstance(effect, Park):  # a retry's backoff: the timer releases it
            assert effect.delay is not None
            assert effect.correlations == ()
            parks.append(effect.delay)
            job.event = ("timer", "", None)
        elif isinstance(effect, End):
            break
        else:
            assert effect is None
            assert job.event is None
    else:
        raise AssertionError("the chain never ended")
    want_calls, want_parks, state, at = _model(links, script)
    assert calls == want_calls
    assert parks == want_parks
    assert effect.state is state
    assert job.step == f"s{at}"  # a final job reports the step it ended at
    if state is JobState.FAULTED:
        assert effect.error is not None
        assert effect.error.startswith(f"step 's{at}': ")
        assert "BoomError" in effect.error
    else:
        assert effect.error is None


def _request(**kw: Any) -> tuple[Workflow, RequestReaction]:
    sent: list[Any] = []
    ask = RequestReaction("ask", lambda data, ctx: sent.append(data), **kw)
    after = [  # chained only so that each is reachable
        Sequential("yes", lambda d: None, next="late"),
        Sequential("late", lambda d: None, next="bad"),
        Sequential("bad", lambda d: None),
    ]
    return Workflow("req", [ask, *after], "ask"), ask


@given(
    st.sampled_from(["timer", "reply", "fault"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_a_reply_fault_or_timeout_leads_where_the_request_says(
    kind: str, timeout_path: bool, on_fault: bool, fault_next: bool, handler_raises: bool
) -> None:
    def handle(data: dict[str, Any], payload: Any) -> dict[str, Any]:
        if handler_raises:
            raise BoomError("handler")
        return {**data, "got": payload}

    wf, ask = _request(
        next="yes",
        timeout=5.0,
        on_timeout="late" if timeout_path else None,
        on_reply=handle,
        on_fault=handle if on_fault else None,
        fault_next="bad" if fault_next else None,
    )
    job = record(workflow="req", step="ask", data={"n": 1})
    interpreter = Interpreter(None)
    first = interpreter.step(job, ask, wf)
    assert isinstance(first, Request)
    assert first.park == Park(5.0, ((f"{job.id}/ask", ""),))
    assert first.data == job.data
    assert first.data is not job.data  # send() gets a copy: the job may resume elsewhere
    assert first.context.correlation_id == f"{job.id}/ask"

    job.event = (kind, "", "p")
    effect = interpreter.step(job, ask, wf)
    handled = kind == "reply" or (kind == "fault" and on_fault)
    if kind == "timer":
        want = "late" if timeout_path else None
    elif kind == "reply":
        want = "yes"
    else:
        want = "bad" if fault_next else None
    faults = (kind == "timer" and not timeout_path) or (
        kind == "fault" and not (on_fault or fault_next)
    )
    if faults or (handled and handler_raises):
        assert isinstance(effect, End)
        assert effect.state is JobState.FAULTED
        assert job.step == "ask"
        assert job.data == {"n": 1}
        return
    if want is None:  # a fault path that ends the job
        assert effect == End(JobState.DONE, None)
        assert job.step == "ask"
    else:
        assert effect is None
        assert (job.step, job.attempt, job.event) == (want, 1, None)
    assert job.data == ({"n": 1, "got": "p"} if handled else {"n": 1})


@given(st.permutations(range(4)), st.booleans())
def test_a_join_merges_the_branches_in_branch_order_whatever_order_they_came(
    order: list[int], first_wins: bool
) -> None:
    join_kind = Discriminator if first_wins else Synchronize
    join = join_kind("join", next="after")
    wf = Workflow(
        "j",
        [
            ParallelSplit("split", ["x", "y"]),
            Sequential("x", lambda d: None, next="join"),
            Sequential("y", lambda d: None, next="join"),
            join,
            Sequential("after", lambda d: None),
        ],
        "split",
    )
    parent = record(workflow="j", step="join", data={"seen": []}, event=("join", "join", None))
    for i in order:
        parent.arrivals[i] = {f"b{i}": i, "last": i}
    parent.split_total = 4
    assert Interpreter(None).step(parent, join, wf) is None
    assert parent.data["last"] == 3  # the highest branch index is merged last
    assert all(parent.data[f"b{i}"] == i for i in range(4))
    assert (parent.step, parent.arrivals, parent.split_total) == ("after", {}, 0)

    branch = record(workflow="j", step="join", parent_id=parent.id, branch_index=0)
    arrive = Interpreter(None).step(branch, join, wf)
    assert arrive == Arrive("join", 1 if first_wins else None)
    stray = record(workflow="j", step="join")
    ended = Interpreter(None).step(stray, join, wf)
    assert isinstance(ended, End)
    assert ended.state is JobState.FAULTED


@given(st.lists(st.integers(0, 9), max_size=4), st.booleans())
def test_a_split_starts_one_branch_per_item_each_with_its_own_copy(
    items: list[int], storable: bool
) -> None:
    split = ParallelSplit("split", lambda data: data["items"], each="one")
    wf = Workflow("s", [split, Sequential("one", lambda d: None)], "split")
    data: dict[str, Any] = {"items": [{"i": i} if storable else object() for i in items]}
    job = record(workflow="s", step="split", data=data, gen=3)
    effect = Interpreter(None).step(job, split, wf)
    if not items or not storable:
        assert isinstance(effect, End)
        assert effect.state is JobState.FAULTED
        assert job.state is JobState.READY  # nothing of the split was set
        return
    assert isinstance(effect, Split)
    assert effect.starts == [("one", {"i": i}) for i in items]
    assert all(d is not item for (_, d), item in zip(effect.starts, data["items"], strict=True))
    assert (job.gen, job.state, job.split_total) == (4, JobState.WAITING, len(items))
    assert (job.split_step, job.arrivals, job.joined) == ("split", {}, False)


@given(st.floats(-5, 5), st.sampled_from([None, "timer", "go", "stop", "fault"]))
def test_waits_park_and_go_on_where_their_event_leads(duration: float, event: str | None) -> None:
    wait = Wait("wait", lambda data: duration, next="pick")  # a negative one waits 0
    pick = DeferredChoice("pick", {"go": "end", "stop": "end"}, timeout=None, on_timeout=None)
    wf = Workflow("w", [wait, pick, Sequential("end", lambda d: None)], "wait")
    interpreter = Interpreter(None)
    job = record(workflow="w", step="wait")
    assert interpreter.step(job, wait, wf) == Park(max(duration, 0.0))
    job.event = ("timer", "", None)
    assert interpreter.step(job, wait, wf) is None
    assert (job.step, job.event) == ("pick", None)
    parked = interpreter.step(job, pick, wf)
    assert parked == Park(None, ((f"{job.id}/pick/go", "go"), (f"{job.id}/pick/stop", "stop")))
    if event is None:
        return
    job.event = (
        ("timer", "", None)
        if event == "timer"
        else ("fault" if event == "fault" else "reply", event, "p")
    )
    effect = interpreter.step(job, pick, wf)
    if event in ("timer", "fault"):
        assert isinstance(effect, End)
        assert effect.state is JobState.FAULTED
        assert job.step == "pick"
    else:
        assert effect is None
        assert job.step == "end"


def test_a_join_refuses_an_arrival_from_outside_its_split() -> None:
    """A branch row whose index was changed by hand must not be merged out of order."""
    join = Synchronize("join", next="after")
    wf = Workflow(
        "j",
        [
            ParallelSplit("split", ["x", "y", "z"]),
            Sequential("x", lambda d: None, next="join"),
            Sequential("y", lambda d: None, next="join"),
            Sequential("z", lambda d: None, next="join"),
            join,
            Sequential("after", lambda d: None),
        ],
        "split",
    )
    parent = record(workflow="j", step="join", data={}, event=("join", "join", None))
    parent.arrivals = {1: {"b": 1}, 2: {"b": 2}, 7: {"b": 0}}
    parent.split_total = 3
    ended = Interpreter(None).step(parent, join, wf)
    assert isinstance(ended, End) and ended.state is JobState.FAULTED
    assert "branch index(es) [7] arrived at a split of 3 branches" in (ended.error or "")
