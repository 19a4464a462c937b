"""``Workflow``: a named, versioned graph of steps, validated when it is built."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from actors._errors import WorkflowDefinitionError
from actors._loops import loop_problem
from actors._seconds import seconds_problem, timeout_problem
from actors._split_join import apart_joins, root_joins
from actors._steps import (
    DeferredChoice,
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    RequestReaction,
    Retry,
    Sequential,
    SimpleMerge,
    Step,
    Synchronize,
    Wait,
    call_problem,
    kind_problem,
    wants_context,
)
from actors._text import is_unicode

__all__ = ["Workflow", "workflow_list"]

_JOINS = (Synchronize, Discriminator)
_PARKS = (Wait, RequestReaction, DeferredChoice)
_FORK_JOIN = (ParallelSplit, Synchronize)  # a split takes every branch; a join needs them
_MAX = 2**63 - 1  # the largest version: a store keeps it in a signed 64-bit integer
# What the engine passes each handler, for the message when one cannot take it.
_DATA_ERROR = "the data and the exception"
_DATA_REPLY = "the data and the reply's payload"
_DATA_EVENT = "the data, the event's name and its payload"
_MERGED = "the parent's data and the list of the branches' data"
_NO_NEXT_FIELD = (
    object()
)  # a step kind without a next (a split, a choice)  # steps a job waits at, off its runner


class Workflow:
    """A named, versioned graph of steps that refer to each other by name.

    Construction validates the graph and raises ``WorkflowDefinitionError`` (a
    ``ValueError``) naming the workflow, the step and the fix for: duplicate step
    names; an unknown start, next or branch; a split with fewer than two branches; a
    ``Wait`` without ``next``; an ``on_timeout`` without a ``timeout``; a step no path
    from ``start`` reaches; a join no split reaches; and a wrong type where a task,
    spec or policy should be.
    """

    __slots__ = ("_ctx_steps", "_steps", "name", "start", "version")

    def __init__(self, name: str, steps: Iterable[Step], start: str, version: int = 1) -> None:
        if not isinstance(name, str) or not name:
            msg = f"a workflow needs a non-empty string name, got {name!r}"
            raise WorkflowDefinitionError(msg)
        if not _text(name):
            msg = f"workflow name {name!r} is not text a store can keep (a NUL or a lone surrogate)"
            raise WorkflowDefinitionError(msg)
        if name in {".", ".."}:  # a path segment: no link can name its dashboard page
            msg = f"workflow name {name!r} is refused: it reads as a path ('.' or '..')"
            raise WorkflowDefinitionError(msg)
        self.name = name
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= _MAX:
            # Past 2**63 - 1 no store's integer column keeps it: a store refused it later.
            self._fail(None, f"version must be an int from 1 to {_MAX}, got {version!r}")
        self.version = version
        self.start = start
        self._steps: dict[str, Step] = {}
        if isinstance(steps, Step) or not isinstance(steps, Iterable):
            kind = type(steps).__name__
            self._fail(None, f"steps must be a list of steps, got a {kind}: Workflow(name, [...])")
        for step in steps:
            if not isinstance(step, Step):
                self._fail(None, f"{step!r} is not a step; build steps with Sequential(...) etc.")
            if step.name in self._steps:
                self._fail(step.name, "the name is used twice; give every step a unique name")
            self._steps[step.name] = step
        if not self._steps:
            self._fail(None, "a workflow needs at least one step")
        if start not in self._steps:
            self._fail(None, f"start={start!r} names no step; choose one of {sorted(self._steps)}")
        for step in self._steps.values():
            self._check_step(step)
        self._check_reachable()
        self._check_joins()
        self._check_loops()
        self._ctx_steps = frozenset(
            s.name
            for s in self._steps.values()
            if (fn := _primary_callable(s)) is not None and wants_context(fn)
        )

    # -- lookups used by the engine ------------------------------------------------------

    @property
    def key(self) -> tuple[str, int]:
        """``(name, version)``: how stores and workers look the workflow up."""
        return (self.name, self.version)

    @property
    def steps(self) -> Mapping[str, Step]:
        """The steps by name, in definition order."""
        return self._steps

    @property
    def context_steps(self) -> frozenset[str]:
        """Names of the steps whose task takes a second ``ctx`` parameter."""
        return self._ctx_steps

    def step(self, name: str) -> Step:
        """The step called ``name`` (``KeyError`` naming the workflow when there is none)."""
        try:
            return self._steps[name]
        except KeyError:
            msg = f"workflow {self.name!r} v{self.version} has no step {name!r}"
            raise KeyError(msg) from None

    def to_mermaid(self) -> str:
        """This workflow as a Mermaid ``flowchart TD`` (one shape per step kind)."""
        from actors._diagram import to_mermaid

        return to_mermaid(self)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, version={self.version}, steps={len(self._steps)})"

    # -- validation ------------------------------------------------------------------------

    def _fail(self, step: str | None, problem: str) -> Any:
        where = f"workflow {self.name!r}" + (f", step {step!r}" if step else "")
        msg = f"{where}: {problem}"
        raise WorkflowDefinitionError(msg)

    def _need(self, step: Step, attr: str, target: str | None, *, required: bool) -> None:
        # "" is a target left out where the step's field defaults to "" (ExclusiveChoice).
        if target is None or (required and target == ""):
            if required:
                self._fail(step.name, f"{attr} is required; name the step that comes next")
            return
        if target == "":
            self._fail(step.name, f"{attr} is empty; name a step, or leave it out (None)")
        if not isinstance(target, str) or target not in self._steps:
            self._fail(
                step.name, f"{attr}={target!r} names no step; choose one of {sorted(self._steps)}"
            )

    def _callable(
        self,
        step: Step,
        attr: str,
        value: Any,
        *,
        required: bool,
        passed: int | None = None,
        gets: str | None = None,
    ) -> None:
        """Refuse ``value`` unless the engine can call it as step ``attr``.

        ``passed``: how many positional arguments the engine calls it with, if fixed;
        ``gets``: what they are, for the message.
        """
        if value is None and not required:
            return
        if not callable(value):
            self._fail(step.name, f"{attr} must be a callable, got {value!r}")
        if (problem := kind_problem(value, may_yield=attr == "branches")) is not None:
            self._fail(step.name, f"{attr} {problem}")
        if attr == "send":
            passed, gets = 2, "the data and ctx"
        if attr == "task" or passed is not None:
            problem = call_problem(value, passed=passed, gets=gets)
            if problem is not None:
                self._fail(step.name, f"{attr} {problem}")

    def _check_step(self, step: Step) -> None:  # noqa: PLR0912, PLR0915 - a branch per kind
        if not isinstance(step.name, str) or not step.name:
            self._fail(None, f"step names must be non-empty strings, got {step.name!r}")
        if "/" in step.name:  # a correlation id is job/step[/event]
            self._fail(step.name, "a step name must not hold '/', which joins correlation ids")
        if not _text(step.name):
            self._fail(None, f"step name {step.name!r} is not text a store can keep")
        if isinstance(step, Sequential):
            self._callable(step, "task", step.task, required=True)
            self._callable(
                step, "on_fault", step.on_fault, required=False, passed=2, gets=_DATA_ERROR
            )
            self._need(step, "next", step.next, required=False)
            self._need(step, "fault_next", step.fault_next, required=False)
            if step.retry is not None:
                r = step.retry
                if not isinstance(r, Retry):
                    self._fail(step.name, f"retry must be a Retry(...), got {r!r}")
                for what in ("backoff", "max_backoff", "multiplier"):
                    problem = seconds_problem(getattr(r, what))
                    if problem is not None:
                        self._fail(step.name, f"retry.{what}: {problem}")
                if not isinstance(r.attempts, int) or isinstance(r.attempts, bool):
                    self._fail(step.name, f"retry.attempts must be an int, got {r.attempts!r}")
                low = {"attempts": 1, "backoff": 0, "max_backoff": 0, "multiplier": 1}
                if wrong := [f"{k}={getattr(r, k)!r}" for k, v in low.items() if getattr(r, k) < v]:
                    self._fail(
                        step.name,
                        "retry needs attempts >= 1, backoff >= 0, max_backoff >= 0, "
                        f"multiplier >= 1; got {', '.join(wrong)}",
                    )
                on = r.on if isinstance(r.on, tuple | list) else (r.on,)
                if not all(isinstance(t, type) and issubclass(t, BaseException) for t in on):
                    self._fail(step.name, f"retry.on must be exception types, got {r.on!r}")
        elif isinstance(step, ExclusiveChoice):
            self._callable(step, "spec", step.spec, required=True, passed=1, gets="the data")
            self._need(step, "if_true", step.if_true, required=True)
            self._need(step, "if_false", step.if_false, required=True)
        elif isinstance(step, ParallelSplit):
            if step.is_dynamic:
                self._callable(
                    step, "branches", step.branches, required=True, passed=1, gets="the data"
                )
                if step.each is None:
                    self._fail(step.name, "a split with a branches function needs each='step'")
                self._need(step, "each", step.each, required=True)
            else:
                branches = step.branches
                if step.each is not None:
                    self._fail(
                        step.name,
                        "each= is for a branches function; with a list of branches, each "
                        "branch names its own first step",
                    )
                if isinstance(branches, str) or len(list(branches)) < 2:  # type: ignore[arg-type]
                    self._fail(
                        step.name,
                        f"a split needs two or more branches, got {branches!r}; "
                        "use Sequential for a single path",
                    )
                for b in branches:  # type: ignore[union-attr]
                    self._need(step, "branch", b, required=True)
        elif isinstance(step, _JOINS):
            self._callable(step, "merge", step.merge, required=False, passed=2, gets=_MERGED)
            self._need(step, "next", step.next, required=False)
        elif isinstance(step, SimpleMerge):
            self._need(step, "next", step.next, required=False)
        elif isinstance(step, Wait):
            self._need(step, "next", step.next, required=True)
            if callable(step.duration):
                self._callable(
                    step, "duration", step.duration, required=True, passed=1, gets="the data"
                )
            else:
                problem = seconds_problem(step.duration)
                if problem is None and step.duration < 0:
                    problem = f"{step.duration!r} is negative"
                if problem is not None:
                    self._fail(step.name, f"duration must be seconds >= 0: {problem}")
        elif isinstance(step, RequestReaction):
            self._callable(step, "send", step.send, required=True)
            self._callable(
                step, "on_reply", step.on_reply, required=False, passed=2, gets=_DATA_REPLY
            )
            self._callable(
                step, "on_fault", step.on_fault, required=False, passed=2, gets=_DATA_REPLY
            )
            for attr in ("next", "fault_next", "on_timeout"):
                self._need(step, attr, getattr(step, attr), required=False)
            self._timeout(step)
        elif isinstance(step, DeferredChoice):
            if not isinstance(step.events, Mapping):
                self._fail(step.name, f"events must map event names to steps, got {step.events!r}")
            if not step.events:
                self._fail(step.name, "a deferred choice needs at least one event")
            for event in step.events:
                if not isinstance(event, str) or not event or "/" in event or not _text(event):
                    self._fail(
                        step.name, f"event names are non-empty strings without '/', got {event!r}"
                    )
            for event, target in step.events.items():
                self._need(step, f"events[{event!r}]", target, required=True)
            self._need(step, "on_timeout", step.on_timeout, required=False)
            self._need(step, "fault_next", step.fault_next, required=False)
            self._callable(
                step, "on_event", step.on_event, required=False, passed=3, gets=_DATA_EVENT
            )
            self._callable(
                step, "on_fault", step.on_fault, required=False, passed=3, gets=_DATA_EVENT
            )
            self._timeout(step)
        else:
            self._fail(step.name, f"unsupported step kind {type(step).__name__}")

    def _timeout(self, step: RequestReaction | DeferredChoice) -> None:
        problem = timeout_problem(step.timeout, step.on_timeout)
        if problem is not None:
            self._fail(step.name, problem)

    def _reach(self, roots: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = deque(roots)
        while todo:
            name = todo.popleft()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(self._steps[name].targets())
        return seen

    def _check_reachable(self) -> None:
        unreachable = [n for n in self._steps if n not in self._reach([self.start])]
        if unreachable:
            self._fail(
                unreachable[0],
                f"no path from start {self.start!r} reaches it; remove it or link to it "
                f"(unreachable: {unreachable})",
            )

    def _check_loops(self) -> None:
        # A loop is left by an edge out of it, by a step that may end the job (no next;
        # a fault handled with no fault_next ends it DONE), or waits at a parking step.
        ways_out = {
            n
            for n, s in self._steps.items()
            if isinstance(s, _PARKS)
            or getattr(s, "next", _NO_NEXT_FIELD) is None  # a kind with a next, left empty
            or (isinstance(s, Sequential) and s.on_fault is not None and s.fault_next is None)
        }
        steps = self._steps.items()
        forks, joins = ({n for n, s in steps if isinstance(s, k)} for k in _FORK_JOIN)
        found = loop_problem({n: s.targets() for n, s in steps}, ways_out, forks, joins)
        if found is not None:
            self._fail(*found)

    def _check_joins(self) -> None:
        split_targets = [
            t for s in self._steps.values() if isinstance(s, ParallelSplit) for t in s.targets()
        ]
        below_split = self._reach(split_targets)
        for step in self._steps.values():
            if isinstance(step, _JOINS) and step.name not in below_split:
                kind = type(step).__name__
                self._fail(step.name, f"no ParallelSplit's branches reach this {kind}")
        for step in self._steps.values():
            if isinstance(step, ParallelSplit) and (problem := apart_joins(self, step)):
                self._fail(step.name, problem)
        for join in sorted(root_joins(self)):
            self._fail(
                join,
                f"a path from start {self.start!r} reaches this join through no "
                "ParallelSplit: a job there is no split's branch, and would fault",
            )


def _text(name: str) -> bool:
    """Whether every store can keep ``name``: no NUL, no lone surrogate."""
    return "\x00" not in name and is_unicode(name)


def _primary_callable(step: Step) -> Any:
    if isinstance(step, Sequential):
        return step.task
    if isinstance(step, RequestReaction):
        return step.send
    return None


def workflow_list(workflows: Any, where: str) -> list[Workflow]:
    """``workflows`` as a list, or a ``TypeError`` naming ``where`` and what was passed.

    ``Mediator(flow)`` (one Workflow, not a list) and a list of workflow names are the
    usual slips; each gets a message that says what to pass instead.
    """
    expected = f"{where}: expected a list of Workflow objects"
    if isinstance(workflows, Workflow):
        name = where.split("(", 1)[0]
        msg = (
            f"{expected}, got a single Workflow ({workflows.name!r}); pass it in a list: "
            f"{name}([workflow])"
        )
        raise TypeError(msg)
    if isinstance(workflows, str | bytes):
        msg = f"{expected}, got {type(workflows).__name__} {workflows!r}"
        raise TypeError(msg)
    try:
        listed = list(workflows)
    except TypeError:
        msg = f"{expected}, got {type(workflows).__name__} {workflows!r}"
        raise TypeError(msg) from None
    for index, workflow in enumerate(listed):
        if not isinstance(workflow, Workflow):
            msg = f"{expected}, but item {index} is {type(workflow).__name__} {workflow!r}"
            raise TypeError(msg)
    return listed
