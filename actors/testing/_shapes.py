"""Workflow *shapes*: a small grammar the strategies generate and ``GeneratedWorkflow`` compiles.

A shape is a tree of frozen records (a task, a sequence, a choice on a flag of the job
data, a split with a join, a pause, a bounded loop, a request with a timeout). Compiling
it gives the steps of a valid ``actors.Workflow`` and, for any input data, the set of
*trails* (the names of the steps that record themselves, in order) a correct engine may
leave in a finished case's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Choice", "Loop", "Node", "Pause", "Request", "Seq", "Split", "Task", "describe", "size"]

JoinKind = Literal["sync", "first", "none"]


@dataclass(frozen=True, slots=True)
class Task:
    """A ``Sequential`` step whose task records (step, job id, idempotency key) in the data."""


@dataclass(frozen=True, slots=True)
class Seq:
    """Its parts one after another."""

    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Choice:
    """An ``ExclusiveChoice`` on ``data["flags"][flag]``; both paths meet at a ``SimpleMerge``."""

    flag: int
    then: Node
    other: Node


@dataclass(frozen=True, slots=True)
class Split:
    """A ``ParallelSplit`` into ``branches``, then a join.

    The join is a ``Synchronize`` (``sync``), a ``Discriminator`` (``first``), or nothing
    (``none``: only at the end of a workflow; elsewhere it compiles as ``sync``).
    ``dynamic``: the branch count is a function of the data (WCP14), every instance
    running the first branch's shape.
    """

    branches: tuple[Node, ...]
    join: JoinKind = "sync"
    dynamic: bool = False


@dataclass(frozen=True, slots=True)
class Pause:
    """A ``Wait`` of ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Loop:
    """``body`` ``times`` times: a counter in the data, set by an init task, bumped by another."""

    times: int
    body: Node


@dataclass(frozen=True, slots=True)
class Request:
    """A ``RequestReaction`` with a ``timeout``; the reply and the timeout each lead to a task."""

    timeout: float


Node = Task | Seq | Choice | Split | Pause | Loop | Request


def size(node: Node) -> int:
    """How many shape records ``node`` holds (a rough measure of the workflow it makes)."""
    if isinstance(node, Seq):
        return 1 + sum(size(p) for p in node.parts)
    if isinstance(node, Choice):
        return 1 + size(node.then) + size(node.other)
    if isinstance(node, Split):
        return 1 + sum(size(b) for b in node.branches)
    if isinstance(node, Loop):
        return 1 + size(node.body)
    return 1


def describe(node: Node) -> str:
    """A compact, readable rendering, e.g. ``[T, split(T | T) sync]``."""
    if isinstance(node, Task):
        return "T"
    if isinstance(node, Seq):
        return "[" + ", ".join(describe(p) for p in node.parts) + "]"
    if isinstance(node, Choice):
        return f"if flag{node.flag}({describe(node.then)} else {describe(node.other)})"
    if isinstance(node, Split):
        kind = "dynamic split" if node.dynamic else "split"
        return f"{kind}({' | '.join(describe(b) for b in node.branches)}) {node.join}"
    if isinstance(node, Pause):
        return f"wait {node.seconds}s"
    if isinstance(node, Loop):
        return f"loop x{node.times}({describe(node.body)})"
    return f"request(timeout {node.timeout}s)"
