"""The control-flow patterns' documented rules, under many interleavings of the harness.

Each test runs a small workflow under a range of seeds, with outside events and cancels
sent at a range of points (``Harness.at``), and checks the rule on every run: the first
event or the timer decides a ``DeferredChoice``; a ``RequestReaction`` takes one reply,
fault or timeout; a ``Discriminator`` continues once; a ``SimpleMerge`` after a split
without a join lets each thread through; a loop splits and joins once per pass.
"""

from __future__ import annotations

from typing import Any

from actors import (
    CancelOutcome,
    DeferredChoice,
    Discriminator,
    EventOutcome,
    ExclusiveChoice,
    JobState,
    ParallelSplit,
    RequestReaction,
    Sequential,
    SimpleMerge,
    Synchronize,
    Workflow,
)
from actors.testing import Harness

SEEDS = range(60)
POINTS = range(0, 10, 2)  # the action after which the first outside message is sent


def _mark(path: str) -> Any:
    def task(data: Any) -> None:
        data["path"] = path

    return task


def _note(seen: list[str]) -> Any:
    """A task that notes the id of each job that runs it."""

    def task(data: Any, ctx: Any) -> None:
        seen.append(ctx.job_id)

    return task


def _choice(timeout: float) -> Workflow:
    return Workflow(
        "choice",
        [
            Sequential("pre", _mark("pre"), next="which"),
            DeferredChoice(
                "which",
                events={"paid": "ship", "cancelled": "refund"},
                timeout=timeout,
                on_timeout="expire",
                on_fault=lambda d, name, p: d.update(fault=name),
                fault_next="undo",
            ),
            Sequential("ship", _mark("ship")),
            Sequential("refund", _mark("refund")),
            Sequential("expire", _mark("expire")),
            Sequential("undo", _mark("undo")),
        ],
        "pre",
    )


def _run_choice(seed: int, point: int, timeout: float) -> None:
    fault = seed % 2 == 0  # the second event is a fault event on even seeds
    sent: dict[str, Any] = {}
    with Harness([_choice(timeout)], runners=2, seed=seed) as h:
        h.schedule("choice", {}, job_id="o")
        h.at(point, lambda: sent.update(paid=h.receive_event("o/which/paid", 1)))
        h.at(
            point + 1,
            lambda: sent.update(cancelled=h.receive_event("o/which/cancelled", 2, fault=fault)),
        )
        (job,) = h.finish()
    outcomes = {name: future.get() for name, future in sent.items()}
    won = [name for name, outcome in outcomes.items() if outcome is EventOutcome.DELIVERED]
    where = f"seed {seed}, point {point}: {outcomes}, {job.data}"
    assert job.state is JobState.DONE, where
    assert len(won) <= 1, where  # never two events of one choice
    if not won:
        assert job.data["path"] == "expire", where
        return
    expected = {"paid": "ship", "cancelled": "undo" if fault else "refund"}[won[0]]
    assert job.data["path"] == expected, where
    # The other event was withdrawn as the first decided, or came before the choice.
    assert all(
        o in (EventOutcome.LATE, EventOutcome.UNKNOWN)
        for name, o in outcomes.items()
        if name != won[0]
    ), where


def test_a_deferred_choice_takes_the_first_event_or_its_timer_never_both() -> None:
    for timeout in (0.0, 5.0):
        for seed in SEEDS:
            for point in POINTS:
                _run_choice(seed, point, timeout)


def _request(holder: list[Harness], answers: list[tuple[str, Any]], answer_in_send: bool) -> Any:
    def send(data: Any, ctx: Any) -> None:
        if answer_in_send:  # a responder that answers before send returns
            answers.append(("send", holder[0].receive_event(ctx.correlation_id, "in send")))

    return Workflow(
        "ask",
        [
            RequestReaction(
                "ask",
                send=send,
                on_reply=lambda d, r: d.update(reply=r),
                next="ok",
                timeout=5,
                on_timeout="late",
                on_fault=lambda d, e: d.update(fault=e),
                fault_next="bad",
            ),
            Sequential("ok", _mark("ok")),
            Sequential("late", _mark("late")),
            Sequential("bad", _mark("bad")),
        ],
        "ask",
    )


def _run_request(seed: int, point: int, answer_in_send: bool) -> None:
    holder: list[Harness] = []
    answers: list[tuple[str, Any]] = []
    kinds = ("r", "f") if seed % 2 else ("f", "r")  # a reply and a fault reply, both orders
    with Harness([_request(holder, answers, answer_in_send)], runners=2, seed=seed) as h:
        holder.append(h)
        h.schedule("ask", {}, job_id="o")
        for i, kind in enumerate(kinds):
            h.at(
                point + i,
                lambda kind=kind: answers.append(
                    (kind, h.receive_event("o/ask", kind, fault=kind == "f"))
                ),
            )
        if seed % 3 == 0:
            h.at(point + 1, lambda: answers.append(("cancel", h.cancel("o"))))
        (job,) = h.finish()
    outcomes = [(kind, future.get()) for kind, future in answers]
    taken = [kind for kind, outcome in outcomes if outcome is EventOutcome.DELIVERED]
    where = f"seed {seed}, point {point}: {outcomes}, {job.state}, {job.data}"
    assert len(taken) <= 1, where  # one reply moves the job, once
    # The job waits before send runs: a reply from inside send finds it (or its end).
    assert all(
        o not in (EventOutcome.UNKNOWN, EventOutcome.LATE) for k, o in outcomes if k == "send"
    )
    if job.state is JobState.CANCELLED:
        assert ("cancel", CancelOutcome.CANCELLED) in outcomes, where
        return
    assert job.state is JobState.DONE, where
    expected = {"r": "ok", "send": "ok", "f": "bad"}[taken[0]] if taken else "late"
    assert job.data["path"] == expected, where


def test_a_request_takes_one_reply_fault_or_timeout_under_every_interleaving() -> None:
    for answer_in_send in (False, True):
        for seed in SEEDS:
            for point in POINTS:
                _run_request(seed, point, answer_in_send)


def test_a_discriminator_continues_once_whichever_branch_is_cancelled_when() -> None:
    cancels: list[Any] = []
    for seed in SEEDS:
        for point in POINTS:
            ran: list[str] = []
            flow = Workflow(
                "first",
                [
                    ParallelSplit("split", branches=["a", "b", "c"]),
                    Sequential("a", lambda d: d.update(a=1), next="first"),
                    Sequential("b", lambda d: d.update(b=1), next="first"),
                    Sequential("c", lambda d: d.update(c=1), next="first"),
                    Discriminator("first", next="after"),
                    Sequential("after", _note(ran)),
                ],
                "split",
            )
            with Harness([flow], runners=3, seed=seed) as h:
                h.schedule("first", {}, job_id="o")
                # The harness numbers the jobs it makes: the branches are j1, j2, j3.
                h.at(point, lambda: cancels.append(h.cancel("j2")))
                (job,) = h.finish()
            where = f"seed {seed}, point {point}: {job.state} {job.error} {job.data}"
            assert job.state is JobState.DONE, where
            assert ran == ["o"], where  # the parent continued exactly once
            assert len(set(job.data) & {"a", "b", "c"}) == 1, where  # one winner's data
    assert CancelOutcome.CANCELLED in {c.get() for c in cancels}  # some came in time


def test_a_simple_merge_after_a_split_without_join_lets_each_thread_through() -> None:
    for seed in SEEDS:
        passed: list[str] = []

        flow = Workflow(
            "merge",
            [
                ParallelSplit("split", branches=["a", "b", "c"]),
                Sequential("a", lambda d: None, next="merge"),
                Sequential("b", lambda d: None, next="merge"),
                Sequential("c", lambda d: None, next="merge"),
                SimpleMerge("merge", next="after"),
                Sequential("after", _note(passed)),
            ],
            "split",
        )
        with Harness([flow], runners=2, seed=seed) as h:
            h.schedule("merge", {})
            (job,) = h.finish()
        assert job.state is JobState.DONE
        assert job.step == "split"  # the parent's own thread ended at the split
        assert len(passed) == 3 and len(set(passed)) == 3, passed  # once per branch


def _counter(ran: list[int]) -> Any:
    def count(data: Any) -> None:
        ran.append(data["n"])
        data["n"] += 1

    return count


def test_a_loop_through_splits_joins_once_per_pass_with_either_join() -> None:
    for join in (Synchronize, Discriminator):
        for seed in SEEDS:
            ran: list[int] = []

            flow = Workflow(
                "loop",
                [
                    ParallelSplit("split", branches=["x", "y"]),
                    Sequential("x", lambda d: d.update(x=d["n"]), next="join"),
                    Sequential("y", lambda d: d.update(y=d["n"]), next="join"),
                    join("join", next="count"),
                    Sequential("count", _counter(ran), next="more"),
                    ExclusiveChoice(
                        "more", spec=lambda d: d["n"] < 3, if_true="split", if_false="end"
                    ),
                    Sequential("end", lambda d: None),
                ],
                "split",
            )
            with Harness([flow], runners=2, seed=seed) as h:
                h.schedule("loop", {"n": 0})
                (job,) = h.finish()
            where = f"{join.__name__} seed {seed}: {job.state} {job.error} {ran}"
            assert job.state is JobState.DONE, where
            assert ran == [0, 1, 2], where  # one join per pass, in order
