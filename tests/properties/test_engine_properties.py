"""Property: generated valid workflows under random engine configurations, on real threads.

Every admitted job reaches a final state (or is reported SHED), every step on the path
the data selects runs exactly once, its write reaches the case's final data through every
join, and the queued external jobs never exceed capacity: in memory and on SQLite (the
durable default, with its group commit).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bounds import TIMEOUT
from budget import budget
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import (
    ExclusiveChoice,
    FullMode,
    Job,
    JobState,
    MailboxFull,
    Mediator,
    ParallelSplit,
    Sequential,
    SimpleMerge,
    Spec,
    StepContext,
    Synchronize,
    Workflow,
)

FLAGS = 6


@dataclass(frozen=True)
class Task:
    name: str


@dataclass(frozen=True)
class Seq:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Choice:
    flag: int
    then: Any
    other: Any


@dataclass(frozen=True)
class Split:
    branches: tuple[Any, ...]


def shapes(depth: int = 0) -> st.SearchStrategy[Any]:
    task = st.builds(lambda: Task(""))
    if depth >= 3:
        return task
    inner = st.deferred(lambda: shapes(depth + 1))
    return st.one_of(
        task,
        st.builds(lambda p: Seq(tuple(p)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(Choice, st.integers(0, FLAGS - 1), inner, inner),
        st.builds(lambda b: Split(tuple(b)), st.lists(inner, min_size=2, max_size=3)),
    )


class Compiler:
    def __init__(self, record: Any) -> None:
        self.steps: list[Any] = []
        self.names = (f"s{i}" for i in itertools.count())
        self.record = record

    def compile(self, node: Any, nxt: str | None) -> str:
        name = next(self.names)
        if isinstance(node, Task):
            self.steps.append(Sequential(name, self.record(name), next=nxt))
            return name
        if isinstance(node, Seq):
            for part in reversed(node.parts):
                nxt = self.compile(part, nxt)
            assert nxt is not None
            return nxt
        if isinstance(node, Choice):
            merge = f"{name}_merge"
            self.steps.append(SimpleMerge(merge, next=nxt))
            then = self.compile(node.then, merge)
            other = self.compile(node.other, merge)
            flag = node.flag
            spec = Spec(lambda d: d["flags"][flag], f"flag{flag}")
            self.steps.append(ExclusiveChoice(name, spec, if_true=then, if_false=other))
            return name
        join = f"{name}_join"
        self.steps.append(Synchronize(join, next=nxt))
        starts = [self.compile(b, join) for b in node.branches]
        self.steps.append(ParallelSplit(name, branches=starts))
        return name


def expected(node: Any, flags: list[bool], names: dict[int, str]) -> list[str]:
    """Step names a case with these flags must run, each once (tasks only)."""
    if isinstance(node, Task):
        return [names[id(node)]]
    if isinstance(node, Seq):
        return [s for p in node.parts for s in expected(p, flags, names)]
    if isinstance(node, Choice):
        return expected(node.then if flags[node.flag] else node.other, flags, names)
    return [s for b in node.branches for s in expected(b, flags, names)]


def build(shape: Any, record: Any) -> tuple[Workflow, dict[int, str]]:
    """Compile ``shape``; map each Task node (by identity) to its step name."""
    names: dict[int, str] = {}
    compiler = Compiler(record)
    original = compiler.compile

    def compile_and_name(node: Any, nxt: str | None) -> str:
        start = original(node, nxt)
        if isinstance(node, Task):
            names[id(node)] = start
        return start

    compiler.compile = compile_and_name  # type: ignore[method-assign]
    start = compiler.compile(shape, None)
    return Workflow("generated", compiler.steps, start=start), names


def unshare(node: Any) -> Any:
    """Hypothesis may reuse one Task object in two places; give every node its own identity."""
    if isinstance(node, Task):
        return Task("")
    if isinstance(node, Seq):
        return Seq(tuple(unshare(p) for p in node.parts))
    if isinstance(node, Choice):
        return Choice(node.flag, unshare(node.then), unshare(node.other))
    return Split(tuple(unshare(b) for b in node.branches))


@settings(max_examples=budget(40), deadline=None)
@given(
    shape=shapes(),
    cases=st.lists(st.lists(st.booleans(), min_size=FLAGS, max_size=FLAGS), min_size=1, max_size=6),
    runners=st.integers(1, 4),
    capacity=st.integers(1, 8),
    mode=st.sampled_from(FullMode),
)
def test_generated_workflows_run_every_taken_step_exactly_once(
    shape: Any, cases: list[list[bool]], runners: int, capacity: int, mode: FullMode
) -> None:
    _run_generated(shape, cases, runners, capacity, mode, "memory://")


@settings(max_examples=budget(15), deadline=None)
@given(
    shape=shapes(),
    cases=st.lists(st.lists(st.booleans(), min_size=FLAGS, max_size=FLAGS), min_size=1, max_size=4),
    runners=st.integers(1, 4),
    capacity=st.integers(1, 8),
    mode=st.sampled_from(FullMode),
)
def test_generated_workflows_on_sqlite_run_every_taken_step_once_and_merge_every_branch(
    tmp_path_factory: Any,
    shape: Any,
    cases: list[list[bool]],
    runners: int,
    capacity: int,
    mode: FullMode,
) -> None:
    """The durable default, its group commit and its joins, under the same shapes."""
    path = tmp_path_factory.mktemp("generated") / "cases.db"
    _run_generated(shape, cases, runners, capacity, mode, f"sqlite:///{path}")


def _run_generated(
    shape: Any, cases: list[list[bool]], runners: int, capacity: int, mode: FullMode, store: str
) -> None:
    shape = unshare(shape)
    ran: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def record(step: str) -> Any:
        def task(data: Any, ctx: StepContext) -> None:
            with lock:
                ran[(ctx.case_id, step)] += 1
            data[step] = ctx.attempt  # each join merges it into its parent

        return task

    flow, names = build(shape, record)
    shed: list[Job] = []
    admitted: list[tuple[Any, list[bool]]] = []
    with Mediator(
        [flow],
        runners=runners,
        capacity=capacity,
        full_mode=mode,
        on_shed=shed.append,
        store=store,
    ) as m:
        for flags in cases:
            try:
                admitted.append((m.schedule("generated", {"flags": flags}, timeout=30), flags))
            except MailboxFull:
                assert mode is FullMode.DROP_NEWEST
        results = [(h.result(timeout=TIMEOUT), flags) for h, flags in admitted]
        stats = m.stats()
    assert stats.peak_queued <= capacity
    for job, flags in results:
        if job.state is JobState.SHED:
            assert mode is FullMode.DROP_OLDEST
            assert job.id in {s.id for s in shed}
            assert not any(case == job.id for case, _ in ran)
            continue
        assert job.state is JobState.DONE, job.error
        taken = expected(shape, flags, names)
        want = Counter((job.id, s) for s in taken)
        got = Counter({k: v for k, v in ran.items() if k[0] == job.id})
        assert got == want
        # Every taken step's write reached the case's final data, through every join.
        assert job.data == {"flags": flags} | dict.fromkeys(taken, 1)
