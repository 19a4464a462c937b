"""Two bugs planted in test-only subclasses of the engine's actors, found and shrunk by the harness.

(a) Branches that obey the admission bound. The naive design DESIGN.md warns about: a
    spawn-branch message travels the admission lane, so a splitting runner needs a gate
    slot per branch and *blocks* (its thread waits in a bounded put) while none is free;
    the Scheduler then queues the branch in the bounded admission queue behind external
    jobs. A split that blocks while every runner is splitting (or blocked) deadlocks.
(b) A Synchronize that counts arrivals instead of keying them by branch index: a
    duplicated BranchArrived (as after an expired lease on a worker that was not dead)
    makes it fire before all branches arrived.

Each search runs within Hypothesis's default budget of 100 examples and must shrink to a
workflow of at most five steps. How many examples each took is recorded as a test
property (``--junitxml`` shows it) and in ``HARNESS_METRICS`` when that is set.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors import messages as m
from actors._case_book import CaseBook
from actors._case_effects import Effect
from actors._errors import MailboxFull
from actors._job import JobRecord, JobState
from actors._runner import Runner
from actors._scheduler import Scheduler
from actors.testing import Deadlock, Duplicate, FaultPlan, InvariantViolation, Scenario
from actors.testing.strategies import fault_plans, scenarios, workflows

# Hypothesis's own default budget (100), whichever profile (ci, dev) is loaded.
DEFAULT_BUDGET = settings.get_profile("default").max_examples
MAX_STEPS = 5


class SpawnThroughGateScheduler(Scheduler):
    """Planted bug (a), Scheduler side: a spawned branch is queued in the bounded gate."""

    def _on_spawn(self, msg: m.SpawnBranch) -> None:
        if msg.parent is not None:
            self._jobs[msg.parent.id] = msg.parent
            self._book.kids.setdefault(msg.parent.id, set())
        child = msg.job
        assert child.parent_id is not None
        self._jobs[child.id] = child
        self._book.kids[child.parent_id].add(child.id)
        child.state = JobState.READY
        self._e.gate.commit(child)  # into the slot its sender reserved: bounded, FIFO
        self._dispatch()


class BlockingSplitRunner(Runner):
    """Planted bug (a), Runner side: a spawn needs a gate slot; the runner blocks till one frees."""

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, m.RunJob):
            return super().on_receive(message)
        job = message.job
        self._current = job
        outbox = list(self._run(job))
        self._current = None
        self._send(job, outbox)
        return None

    def _send(self, job: JobRecord, outbox: list[Any]) -> None:
        gate = self._e.gate
        while outbox:
            msg = outbox[0]
            if isinstance(msg, m.SpawnBranch):
                try:
                    evicted = gate.reserve(block=False)
                except MailboxFull:
                    # A bounded put on a full queue: this runner's thread waits right here,
                    # its split step over (the parent is saved WAITING) but its slice not.
                    self._e.channel.done(job, self._index)
                    self._e.runtime.block(  # type: ignore[attr-defined]
                        self,
                        why=f"spawning branch {msg.job.id} waits for an admission slot",
                        ready=lambda: gate.used < gate.capacity,
                        resume=lambda: self._send(job, outbox),
                        holds=lambda: [
                            j.id for s in outbox if isinstance(s, m.SpawnBranch)
                            for j in (s.job, s.parent) if j is not None
                        ],
                    )  # fmt: skip
                    return
                if evicted is not None:
                    self._scheduler.tell(m.JobShed(evicted))
            self._scheduler.tell(outbox.pop(0))
        following = self._pull(job)
        if following is not None:
            self.actor_ref.tell(m.RunJob(following))


class CountingCaseBook(CaseBook):
    """Planted bug (b): a Synchronize counts arrival messages instead of keying them by branch.

    Arrivals are still stored by branch index (so merges keep branch order), but a
    repeated arrival is counted again, under a key no real branch has.
    """

    def arrived(
        self, child: JobRecord, join_step: str, still_open: bool = False
    ) -> list[Effect] | None:
        # The real case tree ignores an arrival of a branch that has already ended; the
        # naive one hands every arrival message to the join.
        parent = self.jobs.get(child.parent_id or "")
        live = child.id in self.kids.get(child.parent_id or "", ())
        if not live and parent is not None and parent.state is JobState.WAITING:
            return [] if parent.joined else self._arrive(parent, child, join_step)
        return super().arrived(child, join_step, still_open)

    def _arrive(self, parent: JobRecord, child: JobRecord, join_step: str) -> list[Effect]:
        if child.branch_index in parent.arrivals:
            child = copy.copy(child)
            child.branch_index = parent.split_total + len(parent.arrivals)
        return super()._arrive(parent, child, join_step)


class CountingScheduler(Scheduler):
    """Planted bug (b), in the Scheduler's case tree."""

    case_book = CountingCaseBook


def _record(name: str, **figures: Any) -> None:
    path = os.environ.get("HARNESS_METRICS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"test": name, **figures}) + "\n")


def _search(
    strategy: st.SearchStrategy[Scenario],
    substitutions: dict[type, type],
    expected: type[Exception],
) -> tuple[Scenario, int, int, Exception]:
    """Search; return (shrunk scenario, examples to the first failure, examples run, error)."""
    seen: list[Scenario] = []
    tried = [0]
    first: list[int] = []

    @settings(
        max_examples=DEFAULT_BUDGET,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        # The same examples on every run: CI never flakes on an unlucky search (the
        # spread over random searches is measured by benchmarks/harness_figures.py).
        derandomize=True,
        # No "explain" phase: it re-runs failing examples under a line tracer, which
        # costs more than the search itself and adds nothing the trace does not say.
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(strategy, st.data())
    def search(scenario: Scenario, data: st.DataObject) -> None:
        tried[0] += 1
        try:
            scenario.play(data=data, substitutions=substitutions)
        except expected:
            if not first:
                first.append(tried[0])
            seen.append(scenario)
            raise

    with pytest.raises(expected) as info:
        search()
    assert first, "the planted bug was not found"
    return seen[-1], first[0], tried[0], info.value


def test_branches_that_obey_the_admission_bound_deadlock(record_property):
    strategy = scenarios(workflows=workflows(requests=False), cancels=False)
    subs = {Scheduler: SpawnThroughGateScheduler, Runner: BlockingSplitRunner}
    shrunk, found_after, tried, error = _search(strategy, subs, Deadlock)

    assert len(shrunk.workflow.steps) <= MAX_STEPS, shrunk
    report = str(error)
    assert "BLOCKED: spawning branch" in report  # who holds what
    assert "admission gate: 1/1" in report or "admission gate:" in report
    assert "last " in report and "actions:" in report  # the trace tail
    record_property("examples_to_find", found_after)
    record_property("shrunk_steps", len(shrunk.workflow.steps))
    _record("planted (a) spawn obeys admission bound", examples_to_find=found_after,
            examples_run=tried, shrunk=repr(shrunk))  # fmt: skip


def test_a_synchronize_that_counts_a_duplicated_arrival_joins_early(record_property):
    duplicated = st.builds(Duplicate, message=st.just("BranchArrived"), nth=st.integers(1, 4))
    strategy = scenarios(
        workflows=workflows(requests=False),
        faults=st.builds(
            FaultPlan, duplicates=st.lists(duplicated, min_size=1, max_size=2).map(tuple)
        ),
        cancels=False,
    )
    shrunk, found_after, tried, error = _search(
        strategy, {Scheduler: CountingScheduler}, InvariantViolation
    )

    assert len(shrunk.workflow.steps) <= MAX_STEPS, shrunk
    assert "invariant 3" in str(error)
    assert re.search(r"released job \w+ after branches \[\d\] of 2 had arrived", str(error))
    record_property("examples_to_find", found_after)
    record_property("shrunk_steps", len(shrunk.workflow.steps))
    _record("planted (b) counting Synchronize", examples_to_find=found_after,
            examples_run=tried, shrunk=repr(shrunk))  # fmt: skip


def test_the_real_engine_shrugs_off_a_duplicated_arrival():
    strategy = scenarios(
        workflows=workflows(requests=False),
        faults=fault_plans(crashes=False, stalls=False, events=False, duplicates=True),
    )

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(strategy, st.data())
    def run(scenario: Scenario, data: st.DataObject) -> None:
        scenario.play(data=data)

    run()
