"""Raw pykka baseline for the standard benchmark workload W.

Workload W: step A, a parallel split into 4 branches of 3 sequential steps each, a join,
then step B. Every task is a no-op that sets one field in the workflow's dict.

This is the least work any pykka-based engine can do for W, so it is the yardstick the
engine's benchmark is compared to:

- one scheduler ThreadingActor and 4 runner ThreadingActors;
- workflows are submitted with ``tell`` from the benchmark's own thread;
- the scheduler dispatches round-robin to the runners;
- messages are plain tuples: one per split (runner -> scheduler), one per branch end
  (runner -> scheduler) and one per join continuation (scheduler -> runner);
- no data copies (the branches write distinct keys of one dict), no store, no validation;
- completion is signalled with a ``threading.Event`` set after the last step B.

Steps per workflow are the 14 tasks (A, 4 x 3 branch steps, B); the split and the join run
no task and are not counted.

Run as a script: ``python benchmarks/baseline_pykka.py --workflows 20000``.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

BRANCHES = 4
STEPS_PER_BRANCH = 3
STEPS_PER_WORKFLOW = 1 + BRANCHES * STEPS_PER_BRANCH + 1  # A, branch steps, B = 14

# Message tags. Small ints compare faster than strings or isinstance checks.
_SUBMIT, _RUN_A, _SPLIT, _RUN_BRANCH, _BRANCH_END, _RUN_B = range(6)

Task = Callable[[dict[str, bool]], None]


def _set_field(key: str) -> Task:
    def task(data: dict[str, bool]) -> None:
        data[key] = True

    return task


STEP_A = _set_field("a")
STEP_B = _set_field("b")
BRANCH_STEPS: list[list[Task]] = [
    [_set_field(f"branch{b}_step{s}") for s in range(STEPS_PER_BRANCH)] for b in range(BRANCHES)
]


class _Flow:
    """One workflow instance: its data and the join counter (touched by the scheduler only)."""

    __slots__ = ("data", "pending")

    def __init__(self) -> None:
        self.data: dict[str, bool] = {}
        self.pending = 0


class _Done:
    """Counts finished workflows and sets an event after the last one."""

    def __init__(self, expected: int) -> None:
        self._remaining = expected
        self._lock = threading.Lock()
        self.event = threading.Event()
        if expected == 0:
            self.event.set()

    def one(self) -> None:
        with self._lock:
            self._remaining -= 1
            if self._remaining == 0:
                self.event.set()


class _Runner(pykka.ThreadingActor):
    # Set by the first message, which the benchmark sends before any work exists.
    _scheduler: pykka.ActorRef[Any]

    def __init__(self, done: _Done) -> None:
        super().__init__()
        self._done = done

    def on_receive(self, message: Any) -> None:
        tag = message[0]
        if tag == _RUN_BRANCH:
            _, flow, branch = message
            data = flow.data
            for step in BRANCH_STEPS[branch]:
                step(data)
            self._scheduler.tell((_BRANCH_END, flow))
        elif tag == _RUN_A:
            flow = message[1]
            STEP_A(flow.data)
            self._scheduler.tell((_SPLIT, flow))
        elif tag == _RUN_B:
            STEP_B(message[1].data)
            self._done.one()
        else:  # the scheduler's reference, sent once before any work
            self._scheduler = message[1]


class _Scheduler(pykka.ThreadingActor):
    def __init__(self, runners: list[pykka.ActorRef[Any]]) -> None:
        super().__init__()
        self._next_runner = itertools.cycle(runners).__next__

    def on_receive(self, message: Any) -> None:
        tag = message[0]
        if tag == _BRANCH_END:
            flow = message[1]
            flow.pending -= 1
            if flow.pending == 0:
                self._next_runner().tell((_RUN_B, flow))
        elif tag == _SPLIT:
            flow = message[1]
            flow.pending = BRANCHES
            for branch in range(BRANCHES):
                self._next_runner().tell((_RUN_BRANCH, flow, branch))
        elif tag == _SUBMIT:
            self._next_runner().tell((_RUN_A, message[1]))


def run_baseline(n_workflows: int, *, runners: int = 4, timeout: float = 600.0) -> dict[str, float]:
    """Run workload W on raw pykka and measure it.

    Args:
        n_workflows: How many workflows to submit.
        runners: How many runner actors (workload W uses 4).
        timeout: Seconds to wait for the last workflow before giving up.

    Returns:
        ``workflows``, ``elapsed_s``, ``workflows_per_s``, ``steps_per_s`` and
        ``peak_rss_mib`` (the whole process's peak resident set size).

    Raises:
        TimeoutError: The workflows did not all finish within ``timeout``.
    """
    flows = [_Flow() for _ in range(n_workflows)]
    done = _Done(n_workflows)
    runner_refs = [_Runner.start(done) for _ in range(runners)]
    scheduler = _Scheduler.start(runner_refs)
    refs: list[pykka.ActorRef[Any]] = [scheduler, *runner_refs]
    try:
        for runner in runner_refs:
            runner.tell((None, scheduler))

        start = time.perf_counter()
        for flow in flows:
            scheduler.tell((_SUBMIT, flow))
        if not done.event.wait(timeout):
            msg = f"baseline: {n_workflows} workflows did not finish within {timeout} s"
            raise TimeoutError(msg)
        elapsed = time.perf_counter() - start
    finally:
        for ref in refs:
            ref.stop(block=True, timeout=10)

    # Outside the timed region: every workflow ran all 14 steps.
    incomplete = sum(len(flow.data) != STEPS_PER_WORKFLOW for flow in flows)
    if incomplete:
        msg = f"baseline: {incomplete} workflows did not run all {STEPS_PER_WORKFLOW} steps"
        raise RuntimeError(msg)

    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_rss_mib = peak_rss / 2**20 if sys.platform == "darwin" else peak_rss / 2**10
    return {
        "workflows": float(n_workflows),
        "elapsed_s": elapsed,
        "workflows_per_s": n_workflows / elapsed if elapsed else float("inf"),
        "steps_per_s": n_workflows * STEPS_PER_WORKFLOW / elapsed if elapsed else float("inf"),
        "peak_rss_mib": peak_rss_mib,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the baseline from the command line and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--workflows", type=int, default=20_000)
    parser.add_argument("--runners", type=int, default=4)
    args = parser.parse_args(argv)

    result = run_baseline(args.workflows, runners=args.runners)
    print(f"raw pykka baseline, workload W, {args.runners} runners")
    print(f"workflows      {int(result['workflows'])}")
    print(f"elapsed        {result['elapsed_s']:.3f} s")
    print(f"workflows/s    {result['workflows_per_s']:,.0f}")
    print(f"steps/s        {result['steps_per_s']:,.0f}")
    print(f"peak RSS       {result['peak_rss_mib']:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
