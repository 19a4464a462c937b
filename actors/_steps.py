"""The step kinds a workflow is built from: plain frozen records, no engine code.

Steps name each other (``next="pay"``), so a workflow graph may branch, join and loop.
A *task* is a plain synchronous callable over the job's data: ``task(data)`` or
``task(data, ctx)`` when it takes a second parameter (``ctx`` is a ``StepContext``).
A task may change ``data`` in place or return a replacement; returning ``None``
keeps the (possibly mutated) data.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DeferredChoice",
    "Discriminator",
    "ExclusiveChoice",
    "ParallelSplit",
    "RequestReaction",
    "Retry",
    "Sequential",
    "SimpleMerge",
    "Step",
    "Synchronize",
    "Wait",
    "call_problem",
    "kind_problem",
    "wants_context",
]

Task = Callable[..., Any]


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature get data only
        return None


def wants_context(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` takes a second positional parameter (the step context).

    A default does not matter: ``def task(data, ctx=None)`` gets the context too (a
    task that sometimes runs outside the engine is written so).
    """
    params = _parameters(fn)
    if params is None:
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def kind_problem(fn: Callable[..., Any], *, may_yield: bool = False) -> str | None:
    """Why calling ``fn`` would not give the engine its result, or ``None``.

    The engine calls every task and handler synchronously: an ``async def`` would hand
    it a coroutine (a choice's ``spec`` would always hold, a task would replace the data
    with it), a generator function a generator. ``may_yield``: a generator is what ``fn``
    may return (a split's ``branches`` function).
    """
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object's async __call__ too
    if any(inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f) for f in (fn, call)):
        return (
            "is an async function (async def), which the engine calls synchronously: it "
            "would get a coroutine, not the result; make it a plain def"
        )
    if not may_yield and inspect.isgeneratorfunction(fn):
        return (
            "is a generator function (it yields): the engine would get a generator, not "
            "the result; return the value instead"
        )
    return None


def call_problem(
    fn: Callable[..., Any], *, passed: int | None = None, gets: str | None = None
) -> str | None:
    """Why the engine could never call ``fn`` as it calls a task, or ``None``.

    A task is called with the job's data, plus the step context when it takes a second
    positional parameter; ``passed``: the positional arguments it always gets instead
    (a request's ``send`` gets two, a join's ``merge`` two, a choice's ``spec`` one).
    ``gets`` says what those arguments are, for the message. A keyword-only context is
    never passed: asked for by name (``ctx``, ``context``) or by its type, it would
    silently stay at its default.
    """
    params = _parameters(fn)
    if params is None:
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    spread = any(p.kind is p.VAR_POSITIONAL for p in params)
    asks_context = len(positional) >= 2 or spread  # as wants_context reads it
    required = [p for p in positional if p.default is p.empty]
    given = passed if passed is not None else (2 if asks_context else 1)
    if not spread and len(positional) < given:
        told = gets or ("the data and ctx" if given == 2 else "the data")
        takes = f"takes {len(positional)} positional parameter(s)"
        return f"{takes} but is called with {given} ({told})"
    if len(required) > given:
        names = ", ".join(p.name for p in required[given:])
        told = gets or "the data, and ctx"
        return f"needs {names}, which the engine never passes (it passes {told})"
    for p in params:
        if p.kind is not p.KEYWORD_ONLY:
            continue
        if p.default is p.empty:
            return f"needs keyword-only {p.name}, which the engine never passes"
        # The annotation as written or as a type (``StepContext | None`` either way).
        if not asks_context and (
            p.name in ("ctx", "context") or "StepContext" in str(p.annotation)
        ):
            return (
                f"takes {p.name} as a keyword-only parameter, which is never passed: the "
                "step context is the second positional parameter (def task(data, ctx=None))"
            )
    return None


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry policy of a ``Sequential`` step, applied before it takes its fault path.

    ``attempts`` counts every run of the task, the first included. The wait before
    attempt ``n + 1`` is ``backoff * multiplier ** (n - 1)``, capped at ``max_backoff``;
    the job waits on the engine's timers, not in a sleeping runner. Only exceptions
    that are instances of ``on`` are retried.
    """

    attempts: int = 3
    backoff: float = 0.0
    multiplier: float = 2.0
    max_backoff: float = 300.0
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        # Retry(on=ValueError): one exception type is a tuple of one (isinstance takes both).
        if isinstance(self.on, type):
            object.__setattr__(self, "on", (self.on,))
        elif isinstance(self.on, list):
            object.__setattr__(self, "on", tuple(self.on))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        try:
            return float(min(self.backoff * self.multiplier ** (attempt - 1), self.max_backoff))
        except OverflowError:  # a long run of attempts: the cap long since reached
            return float(self.max_backoff)


@dataclass(frozen=True, slots=True)
class Step:
    """Base of every step kind: a unique ``name`` within its workflow."""

    name: str

    def targets(self) -> tuple[str, ...]:
        """Names of the steps this step can lead to."""
        return ()


@dataclass(frozen=True, slots=True)
class Sequential(Step):
    """Run ``task``, then go to ``next`` (WCP1); ``next=None`` ends this thread of control.

    When the task raises (after ``retry`` is exhausted) the step takes its fault path:
    ``on_fault(data, error)`` runs if given (it may change or return data), then the job
    continues at ``fault_next``, or ends DONE when ``fault_next`` is ``None``. A step with
    neither ends the job FAULTED with the error recorded.
    """

    task: Task = field(default=None)  # type: ignore[assignment]
    next: str | None = None
    on_fault: Callable[..., Any] | None = None
    fault_next: str | None = None
    retry: Retry | None = None

    def targets(self) -> tuple[str, ...]:
        return tuple(t for t in (self.next, self.fault_next) if t is not None)

    @property
    def has_fault_path(self) -> bool:
        """Whether a failure of this step is handled rather than faulting the job."""
        return self.on_fault is not None or self.fault_next is not None


@dataclass(frozen=True, slots=True)
class ExclusiveChoice(Step):
    """Go to ``if_true`` when ``spec`` holds for the job's data, else ``if_false`` (WCP4)."""

    spec: Callable[[Any], Any] = field(default=None)  # type: ignore[assignment]
    if_true: str = ""
    if_false: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.if_true, self.if_false)


@dataclass(frozen=True, slots=True)
class ParallelSplit(Step):
    """Split into parallel branches, each a job of its own with its own copy of the data.

    ``branches`` is either a list of two or more step names (WCP2), or a callable of the
    data returning one item per instance (WCP14: the number of instances is known at run
    time). With a callable, every instance starts at step ``each`` and its data is a copy
    of its item. It may return a list, a tuple or any other iterable of items, in the
    order a join sees them; a ``str``, ``bytes``, a mapping, a set or a value that is not
    iterable faults the job at the split. The splitting job waits for its branches: a
    ``Synchronize`` or ``Discriminator`` reached by them continues it; without a join its
    thread ends and the case ends with the last branch.
    """

    branches: Sequence[str] | Callable[[Any], Iterable[Any]] = ()
    each: str | None = None

    @property
    def is_dynamic(self) -> bool:
        """Whether the branch count is decided at run time."""
        return callable(self.branches)

    def targets(self) -> tuple[str, ...]:
        if callable(self.branches):
            return (self.each,) if self.each else ()
        return tuple(self.branches)


@dataclass(frozen=True, slots=True)
class Synchronize(Step):
    """AND-join (WCP3): the splitting job continues once every branch has arrived.

    ``merge(parent_data, branch_datas)`` combines the branch datas (in branch order) into
    the parent's; it may change the parent in place or return a replacement. Without
    ``merge`` the parent dict is updated with each branch's dict in branch order (so a
    branch's unchanged copy of a key puts back what an earlier branch changed; a runner
    warns of it once per join, and ``merge=merge_changes`` keeps every change).
    Fires exactly once per split.
    """

    merge: Callable[[Any, list[Any]], Any] | None = None
    next: str | None = None

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True, slots=True)
class Discriminator(Step):
    """First-of-N join (WCP9): the first branch to arrive continues the splitting job.

    The parent's data is merged with that branch's data (``merge`` as for
    ``Synchronize``, default dict update); the other branches are cancelled, and an
    arrival after the first is ignored: the join never continues twice.
    """

    merge: Callable[[Any, list[Any]], Any] | None = None
    next: str | None = None

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True, slots=True)
class SimpleMerge(Step):
    """XOR-join (WCP5/8): every arriving thread of control passes straight through."""

    next: str | None = None

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True, slots=True)
class Wait(Step):
    """Park the job until ``duration`` seconds have passed, then go to ``next``.

    ``duration`` is a number or a callable of the data. The job leaves its runner while
    it waits; its due time is saved with it.
    """

    duration: float | Callable[[Any], float] = 0.0
    next: str | None = None

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True, slots=True)
class RequestReaction(Step):
    """Send a request and park the job until the correlated reply arrives.

    ``send(data, ctx)`` issues the request; ``ctx.correlation_id`` identifies the reply,
    which ``Mediator.receive_event(correlation_id, event)`` delivers. ``on_reply(data,
    event)`` applies a reply, then the job goes to ``next``. A fault reply
    (``fault=True``) runs ``on_fault(data, event)`` and goes to ``fault_next``; without
    ``on_fault`` or ``fault_next`` the job ends FAULTED. After ``timeout`` seconds without
    a reply the job goes to ``on_timeout`` (or ends FAULTED); a reply after that is ignored.
    """

    send: Callable[..., Any] = field(default=None)  # type: ignore[assignment]
    on_reply: Callable[[Any, Any], Any] | None = None
    on_fault: Callable[[Any, Any], Any] | None = None
    next: str | None = None
    fault_next: str | None = None
    timeout: float | None = None
    on_timeout: str | None = None

    def targets(self) -> tuple[str, ...]:
        return tuple(t for t in (self.next, self.fault_next, self.on_timeout) if t is not None)


@dataclass(frozen=True, slots=True)
class DeferredChoice(Step):
    """The first of several correlated events decides the path (WCP16).

    ``events`` maps an event name to the step it leads to. The correlation id of event
    ``name`` is ``f"{job_id}/{step}/{name}"`` (``ctx.correlation_id`` plus ``/name``).
    ``on_event(data, name, payload)`` may apply the payload. After ``timeout`` seconds
    the job goes to ``on_timeout`` (or ends FAULTED). The other events are withdrawn.
    A fault event (``fault=True``) of any of them runs ``on_fault(data, name, payload)``
    and goes to ``fault_next`` (a compensating step, say); without ``on_fault`` or
    ``fault_next`` the job ends FAULTED.
    """

    events: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    on_timeout: str | None = None
    on_event: Callable[[Any, str, Any], Any] | None = None
    on_fault: Callable[[Any, str, Any], Any] | None = None
    fault_next: str | None = None

    def targets(self) -> tuple[str, ...]:
        tail = tuple(t for t in (self.fault_next, self.on_timeout) if t)
        return (*self.events.values(), *tail)
