"""``GeneratedWorkflow``: a shape compiled to a valid workflow that records the path it takes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any

from actors._spec import Spec
from actors._steps import (
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    RequestReaction,
    Sequential,
    SimpleMerge,
    Step,
    Synchronize,
    Wait,
)
from actors._workflow import Workflow
from actors.testing._shapes import Choice, Loop, Node, Pause, Request, Seq, Split, Task, describe

if TYPE_CHECKING:
    from actors._job import Job, StepContext

__all__ = ["GeneratedWorkflow", "trail_of"]

_MAX_TRAILS = 4096  # beyond this many possible trails a case's path is not checked
Trails = frozenset[tuple[str, ...]]
TrailsFn = Callable[[tuple[bool, ...]], Trails]  # the trails of a compiled shape, given the flags


class _TooManyTrailsError(Exception):
    pass


def _cat(first: Trails, second: Trails) -> Trails:
    if len(first) * len(second) > _MAX_TRAILS:
        raise _TooManyTrailsError
    return frozenset(a + b for a in first for b in second)


def _one(name: str) -> Trails:
    return frozenset({(name,)})


_EMPTY: Trails = frozenset({()})


def trail_of(data: Any) -> tuple[str, ...]:
    """The names of the recording steps a job's data went through, in order."""
    return tuple(entry[0] for entry in data["log"])


class GeneratedWorkflow(Workflow):
    """A valid ``Workflow`` compiled from a shape, whose steps record themselves in the data.

    Each task appends ``[step, job id, idempotency key]`` to ``data["log"]`` (a join
    appends its own name when it merges), and the same effect, with its position in the
    log, to ``journal``: a run where any step executed twice shows a duplicate there.
    ``trails(flags)`` is the set of logs a correct engine may leave in a finished case
    (more than one where a Discriminator or a reply/timeout race decides).
    """

    __slots__ = ("_names", "_trails", "flag_count", "journal", "requests", "responder", "shape")

    def __init__(self, shape: Node, name: str = "generated") -> None:
        self.shape = shape
        self.journal: list[tuple[str, str, str, int]] = []
        """Every task execution: (job id, step, idempotency key, position in the log)."""
        self.requests: list[str] = []
        """Correlation ids of every request sent."""
        self.responder: Callable[[str], Any] | None = None
        """Called with each request's correlation id (the scenario replies through the harness)."""
        self._names = count(1)
        self.flag_count = 0
        steps: list[Step] = []
        start, self._trails = self._compile(shape, None, steps)
        super().__init__(name, steps, start=start)

    def __repr__(self) -> str:
        return f"GeneratedWorkflow({describe(self.shape)}; {len(self.steps)} steps)"

    # -- what a correct engine leaves behind -------------------------------------------------

    def trails(self, flags: tuple[bool, ...] | list[bool]) -> Trails | None:
        """Every log a DONE case may end with for these flags (``None``: too many to list)."""
        try:
            return self._trails(tuple(flags))
        except _TooManyTrailsError:
            return None

    def data(self, flags: tuple[bool, ...] | list[bool] = ()) -> dict[str, Any]:
        """Fresh input data for a case (flags decide the exclusive choices)."""
        return {"log": [], "flags": list(flags)}

    def problems(self, job: Job, flags: tuple[bool, ...] | list[bool]) -> list[str]:
        """Why ``job`` (a DONE case of this workflow) did not take a valid path, if it did not.

        ``flags`` are those of the data the case was given (its ``"flags"``, as
        ``job_data`` draws them, or the list given to ``data(flags)``).
        """
        expected = self.trails(flags)
        trail = trail_of(job.data)
        if expected is None or trail in expected:
            return []
        sample = sorted(expected, key=len)[:2]
        shown = [list(t) for t in sample]
        return [f"case {job.id} ran {list(trail)}; a correct run gives one of {shown}"]

    def repeated(self) -> list[tuple[str, str, str, int]]:
        """Task executions seen more than once (a step ran twice)."""
        return [effect for effect, n in Counter(self.journal).items() if n > 1]

    # -- compilation -------------------------------------------------------------------------

    def _name(self, kind: str) -> str:
        return f"{kind}{next(self._names)}"

    def _record(self) -> Callable[[Any, StepContext], None]:
        journal = self.journal

        def record(data: Any, ctx: StepContext) -> None:
            log = data["log"]
            journal.append((ctx.job_id, ctx.step, ctx.idempotency_key, len(log)))
            log.append([ctx.step, ctx.job_id, ctx.idempotency_key])

        return record

    def _task(self, nxt: str | None, steps: list[Step], kind: str = "t") -> tuple[str, TrailsFn]:
        name = self._name(kind)
        steps.append(Sequential(name, self._record(), next=nxt))
        trails = _one(name)
        return name, lambda _: trails

    def _compile(self, node: Node, nxt: str | None, steps: list[Step]) -> tuple[str, TrailsFn]:
        """Add ``node``'s steps; return its first step and its trails as a function of the flags."""
        if isinstance(node, Task):
            return self._task(nxt, steps)
        if isinstance(node, Seq):
            return self._seq(node, nxt, steps)
        if isinstance(node, Choice):
            return self._choice(node, nxt, steps)
        if isinstance(node, Split):
            return self._split(node, nxt, steps)
        if isinstance(node, Pause):
            after, tail = self._task(None, steps, "end") if nxt is None else (nxt, lambda _: _EMPTY)
            name = self._name("wait")
            steps.append(Wait(name, node.seconds, next=after))
            return name, tail
        if isinstance(node, Loop):
            return self._loop(node, nxt, steps)
        return self._request(node, nxt, steps)

    def _seq(self, node: Seq, nxt: str | None, steps: list[Step]) -> tuple[str, TrailsFn]:
        start: str | None = nxt
        parts: list[TrailsFn] = []
        for part in reversed(node.parts):
            start, part_trails = self._compile(part, start, steps)
            parts.insert(0, part_trails)

        def trails(flags: tuple[bool, ...]) -> Trails:
            out = _EMPTY
            for part in parts:
                out = _cat(out, part(flags))
            return out

        assert start is not None
        return start, trails

    def _choice(self, node: Choice, nxt: str | None, steps: list[Step]) -> tuple[str, TrailsFn]:
        flag = node.flag
        self.flag_count = max(self.flag_count, flag + 1)
        merge = self._name("merge")
        steps.append(SimpleMerge(merge, next=nxt))
        then, then_trails = self._compile(node.then, merge, steps)
        other, other_trails = self._compile(node.other, merge, steps)
        name = self._name("choice")

        def holds(data: Any) -> bool:
            flags = data["flags"]
            return flag < len(flags) and bool(flags[flag])

        steps.append(
            ExclusiveChoice(name, Spec(holds, f"flag{flag}"), if_true=then, if_false=other)
        )
        return name, lambda f: then_trails(f) if flag < len(f) and f[flag] else other_trails(f)

    def _split(self, node: Split, nxt: str | None, steps: list[Step]) -> tuple[str, TrailsFn]:
        kind = "sync" if node.join == "none" and nxt is not None else node.join
        join = None if kind == "none" else self._name("join" if kind == "sync" else "first")
        if join is not None:
            merge = _merger(join)
            join_step = Synchronize if kind == "sync" else Discriminator
            steps.append(join_step(join, merge=merge, next=nxt))
        shapes = node.branches[:1] if node.dynamic else node.branches
        compiled = [self._compile(b, join, steps) for b in shapes]
        name = self._name("split")
        if node.dynamic:
            lanes = len(node.branches)
            steps.append(
                ParallelSplit(
                    name,
                    branches=lambda d: [dict(d, lane=i) for i in range(lanes)],
                    each=compiled[0][0],
                )
            )
            branch_trails = [compiled[0][1]] * lanes
        else:
            steps.append(ParallelSplit(name, branches=[start for start, _ in compiled]))
            branch_trails = [trails for _, trails in compiled]

        def trails(flags: tuple[bool, ...]) -> Trails:
            if join is None:
                return _EMPTY  # the case's own thread ends here; its branches end it
            if kind == "first":
                return _cat(frozenset().union(*(t(flags) for t in branch_trails)), _one(join))
            out = _EMPTY
            for branch in branch_trails:
                out = _cat(out, branch(flags))
            return _cat(out, _one(join))

        return name, trails

    def _loop(self, node: Loop, nxt: str | None, steps: list[Step]) -> tuple[str, TrailsFn]:
        exit_to, tail = self._task(None, steps, "end") if nxt is None else (nxt, lambda _: _EMPTY)
        head, init, inc = self._name("loop"), self._name("init"), self._name("inc")
        counter, times, record = f"n_{head}", node.times, self._record()

        def start(data: Any, ctx: StepContext) -> None:
            record(data, ctx)
            data[counter] = 0

        def bump(data: Any, ctx: StepContext) -> None:
            record(data, ctx)
            data[counter] += 1

        steps.append(Sequential(inc, bump, next=head))
        body, body_trails = self._compile(node.body, inc, steps)
        spec = Spec(lambda d: d[counter] < times, f"{counter} < {times}")
        steps.append(ExclusiveChoice(head, spec, if_true=body, if_false=exit_to))
        steps.append(Sequential(init, start, next=head))

        def trails(flags: tuple[bool, ...]) -> Trails:
            out = _one(init)
            for _ in range(times):
                out = _cat(_cat(out, body_trails(flags)), _one(inc))
            return _cat(out, tail(flags))

        return init, trails

    def _request(self, node: Request, nxt: str | None, steps: list[Step]) -> tuple[str, TrailsFn]:
        reply, reply_trails = self._task(nxt, steps, "reply")
        late, late_trails = self._task(nxt, steps, "timeout")
        name = self._name("req")

        def send(data: Any, ctx: StepContext) -> None:
            self.requests.append(ctx.correlation_id)
            if self.responder is not None:
                self.responder(ctx.correlation_id)

        steps.append(
            RequestReaction(
                name, send, on_reply=lambda d, e: None, next=reply,
                timeout=node.timeout, on_timeout=late,
            )
        )  # fmt: skip
        return name, lambda f: reply_trails(f) | late_trails(f)


def _merger(join: str) -> Callable[[Any, list[Any]], Any]:
    def merge(parent: Any, branches: list[Any]) -> Any:
        log = parent["log"]
        base = len(log)  # every branch's log starts as a copy of the parent's at the split
        for branch in branches:
            log.extend(branch["log"][base:])
        log.append([join, "", ""])
        return parent

    return merge
