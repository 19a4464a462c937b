"""A task waiting for a case no runner is left to run gets an error, not a wait for ever.

A task may wait for a sub-case's ``result()``, holding its runner. With every runner of
the Mediator inside such a wait, no step could run: the waits went on for ever (no
timeout) or ended in a ``TimeoutError`` that said nothing of why. The last of them is
refused with ``RuntimeError``, its runner goes on, and so do the others.
"""

from __future__ import annotations

import threading

from bounds import TIMEOUT
from flows import setter

from actors import FullMode, JobState, Mediator, Sequential, Workflow

CHILD = Workflow("child", [Sequential("c", setter("child"))], "c")
STUCK = "all {} runner(s) of this Mediator are inside tasks waiting for its cases"


def _parent(mediator: dict, before=None) -> Workflow:
    def wait_for_child(data):
        if before is not None:
            before()
        child = mediator["m"].schedule("child", {})
        mediator.setdefault("children", []).append(child)
        data["child"] = child.result(timeout=3 * TIMEOUT).state.value

    return Workflow("parent", [Sequential("p", wait_for_child)], "p")


def test_the_only_runner_waiting_for_a_sub_case_is_refused_and_the_sub_case_runs():
    mediator: dict = {}
    with Mediator([_parent(mediator), CHILD], runners=1) as m:
        mediator["m"] = m
        parent = m.schedule("parent", {}).result(timeout=TIMEOUT)
        (child,) = mediator["children"]
        assert child.result(timeout=TIMEOUT).state is JobState.DONE  # its runner is free
    assert parent.state is JobState.FAULTED
    assert "RuntimeError" in parent.error
    assert STUCK.format(1) in parent.error


def test_when_every_runner_waits_for_a_sub_case_one_is_refused_and_the_others_go_on(tmp_path):
    both_in = threading.Barrier(2, timeout=TIMEOUT)  # both runners hold a parent
    mediator: dict = {}
    flows = [_parent(mediator, both_in.wait), CHILD]
    with Mediator(flows, runners=2, store=f"sqlite:///{tmp_path}/w.db") as m:
        mediator["m"] = m
        handles = [m.schedule("parent", {}) for _ in range(2)]
        parents = sorted((h.result(timeout=TIMEOUT) for h in handles), key=lambda j: j.state.value)
    assert [p.state for p in parents] == [JobState.DONE, JobState.FAULTED]
    assert parents[0].data["child"] == "done"
    assert STUCK.format(2) in parents[1].error


def test_a_runner_waiting_for_a_slot_and_one_for_a_sub_case_are_told_the_case_waits():
    """One runner's task waits for room in the mailbox, the other's for a queued sub-case."""
    mediator: dict = {}
    waits_for_child = threading.Event()

    def fill(data):
        assert waits_for_child.wait(TIMEOUT)
        mediator["m"].schedule("child", {})  # the mailbox is full: it waits for room
        data["filled"] = True

    def wait_for_child(data):
        child = mediator["m"].schedule("child", {})  # takes the last slot
        waits_for_child.set()
        data["child"] = child.result(timeout=3 * TIMEOUT).state.value

    flows = [
        Workflow("filler", [Sequential("f", fill)], "f"),
        Workflow("parent", [Sequential("p", wait_for_child)], "p"),
        CHILD,
    ]
    with Mediator(flows, runners=2, capacity=1, full_mode=FullMode.BACKPRESSURE) as m:
        mediator["m"] = m
        filler, parent = m.schedule("filler", {}), m.schedule("parent", {})
        parent_job = parent.result(timeout=TIMEOUT)
        filler_job = filler.result(timeout=TIMEOUT)
    assert parent_job.state is JobState.FAULTED
    assert STUCK.format(2) in parent_job.error
    assert filler_job.state is JobState.DONE


def test_a_task_s_wait_with_no_time_to_wait_answers_at_once_as_elsewhere():
    """``timeout`` 0 or negative: ``TimeoutError`` at once; NaN refused: as outside a task."""
    mediator: dict = {}
    release = threading.Event()

    def held(data):
        assert release.wait(TIMEOUT)

    def peek(data):
        child = mediator["m"].schedule("held", {})
        for timeout in ("0", "-1", "nan"):
            try:
                child.result(timeout=float(timeout))
            except TimeoutError:
                data.setdefault("timed_out", []).append(timeout)
            except ValueError as exc:
                data.setdefault("refused", []).append(str(exc))
        release.set()

    flows = [
        Workflow("held", [Sequential("h", held)], "h"),
        Workflow("peek", [Sequential("p", peek)], "p"),
    ]
    with Mediator(flows, runners=2) as m:
        mediator["m"] = m
        job = m.schedule("peek", {}).result(timeout=TIMEOUT)
    assert job.data == {
        "timed_out": ["0", "-1"],
        "refused": ["JobHandle.result() timeout must be a number of seconds or None, got nan"],
    }
