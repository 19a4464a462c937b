"""Mermaid diagrams of workflows: ``to_mermaid(workflow)`` draws a ``flowchart TD``.

Each step kind has its own shape, so a diagram reads like the workflow it shows:

==================  =====================  ==========================================
step                shape                  outgoing edges
==================  =====================  ==========================================
``Sequential``      rectangle              ``next``; ``fault_next`` dashed, "fault"
``ExclusiveChoice`` rhombus (the spec)     "yes" to ``if_true``, "no" to ``if_false``
``ParallelSplit``   trapezoid (fork)       one per branch ("each item" when dynamic)
``Synchronize``     inverted trapezoid     ``next``; the label says "wait for all"
``Discriminator``   inverted trapezoid     ``next``; the label says "first of N"
``SimpleMerge``     stadium                ``next``
``Wait``            hexagon (duration)     ``next``
``RequestReaction`` subroutine             "reply"; "fault" and "timeout" dashed
``DeferredChoice``  flag                   one per event, named; "timeout" dashed
==================  =====================  ==========================================

A small circle marks the start. Loops need nothing special: an edge back to an
earlier step is drawn as a back edge. Node ids are made from the step's position and
the ASCII letters and digits of its name, so any step name is safe; labels are quoted,
and the characters a quoted label cannot hold as they are become HTML entities.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors._steps import (
    DeferredChoice,
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
from actors._text import printable

if TYPE_CHECKING:
    from actors._workflow import Workflow

__all__ = ["to_mermaid"]

_START_ID = "wf_start"
_SOLID = "-->"
_DASHED = "-.->"

# Inside a quoted label Mermaid takes brackets, braces, pipes and semicolons as text, but
# reads the label as HTML, so these become HTML entities. (Its own "#name;" codes are
# avoided: not every renderer decodes them.)
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "`": "&grave;"}
_ESCAPE_RE = re.compile('[&<>"`]')
# Text such as "#35;" would be taken for one of Mermaid's entity codes; break it up.
_ENTITY_CODE = re.compile(r"(#\w+);")
_NOT_ID = re.compile(r"[^A-Za-z0-9]+")


def to_mermaid(workflow: Workflow) -> str:
    """Draw ``workflow`` as a Mermaid ``flowchart TD`` and return its source text.

    Steps are declared in the order a walk from ``start`` meets them, so the layout
    reads top to bottom and a loop shows as an edge back up. The text ends with a
    newline and is stable: the same workflow always gives the same text.
    """
    ids = _node_ids(workflow)
    order = _walk(workflow)
    lines = [
        "flowchart TD",
        f"    %% workflow {_comment(workflow.name)} v{workflow.version}",
        f'    {_START_ID}(("start"))',
    ]
    for name in order:
        step = workflow.steps[name]
        lines.append(f"    {ids[name]}{_node(step)}")
    lines.append(f"    {_START_ID} {_SOLID} {ids[workflow.start]}")
    for name in order:
        for arrow, label, target in _edges(workflow.steps[name]):
            middle = f'|"{_escape(label)}"|' if label else ""
            lines.append(f"    {ids[name]} {arrow}{middle} {ids[target]}")
    return "\n".join(lines) + "\n"


# -- nodes --------------------------------------------------------------------------------


def _node_ids(workflow: Workflow) -> dict[str, str]:
    """A unique, syntax-safe Mermaid id per step: ``s<position>_<ascii of the name>``."""
    ids = {}
    for index, name in enumerate(workflow.steps):
        slug = _NOT_ID.sub("_", name).strip("_")[:32]
        ids[name] = f"s{index}_{slug}" if slug else f"s{index}"
    return ids


def _walk(workflow: Workflow) -> list[str]:
    """Step names breadth first from ``start`` (validation makes every step reachable)."""
    seen: dict[str, None] = {}
    todo = deque([workflow.start])
    while todo:
        name = todo.popleft()
        if name in seen:
            continue
        seen[name] = None
        todo.extend(workflow.steps[name].targets())
    for name in workflow.steps:  # defensive: a reachable graph leaves nothing behind
        seen.setdefault(name, None)
    return list(seen)


def _node(step: Step) -> str:
    """The shape and label of one step, e.g. ``["reserve"]``."""
    shape, extra = _SHAPES.get(type(step), (("[", "]"), None))
    lines = [step.name if step.name.strip() else repr(step.name)]
    if extra is not None:
        lines.extend(extra(step))
    label = "<br/>".join(_escape(line) for line in lines)
    return f'{shape[0]}"{label}"{shape[1]}'


def _sequential_notes(step: Sequential) -> list[str]:
    if step.retry is None:
        return []
    retry = step.retry
    note = f"retry: {retry.attempts} attempts"
    if retry.backoff:
        note += f", backoff {_seconds(retry.backoff)}"
    return [note]


def _choice_notes(step: ExclusiveChoice) -> list[str]:
    return [f"{_describe(step.spec) or 'condition on the data'}?"]


def _split_notes(step: ParallelSplit) -> list[str]:
    if step.is_dynamic:
        source = _describe(step.branches)
        return [
            f"parallel split: one per item of {source}"
            if source
            else "parallel split: one per item"
        ]
    return ["parallel split"]


def _synchronize_notes(_: Synchronize) -> list[str]:
    return ["Synchronize: wait for all"]


def _discriminator_notes(_: Discriminator) -> list[str]:
    return ["Discriminator: first of N"]


def _merge_notes(_: SimpleMerge) -> list[str]:
    return ["simple merge"]


def _wait_notes(step: Wait) -> list[str]:
    if callable(step.duration):
        return [f"wait {_describe(step.duration) or '(from the data)'}"]
    return [f"wait {_seconds(step.duration)}"]


def _request_notes(step: RequestReaction) -> list[str]:
    return ["request, await reply"]


def _deferred_notes(step: DeferredChoice) -> list[str]:
    return ["first event wins"]


_Notes = Callable[[Any], list[str]]
_SHAPES: dict[type, tuple[tuple[str, str], _Notes | None]] = {
    Sequential: (("[", "]"), _sequential_notes),
    ExclusiveChoice: (("{", "}"), _choice_notes),
    ParallelSplit: (("[/", "\\]"), _split_notes),
    Synchronize: (("[\\", "/]"), _synchronize_notes),
    Discriminator: (("[\\", "/]"), _discriminator_notes),
    SimpleMerge: (("([", "])"), _merge_notes),
    Wait: (("{{", "}}"), _wait_notes),
    RequestReaction: (("[[", "]]"), _request_notes),
    DeferredChoice: ((">", "]"), _deferred_notes),
}


# -- edges --------------------------------------------------------------------------------

_Edge = tuple[str, str, str]  # (arrow, label, target step)


def _edges(step: Step) -> list[_Edge]:
    """The outgoing edges of a step: solid for the normal path, dashed for faults/timeouts."""
    if isinstance(step, Sequential):
        out = [(_SOLID, "", step.next)] if step.next else []
        if step.fault_next:
            out.append((_DASHED, "fault", step.fault_next))
        return out
    if isinstance(step, ExclusiveChoice):
        return [(_SOLID, "yes", step.if_true), (_SOLID, "no", step.if_false)]
    if isinstance(step, ParallelSplit):
        if step.is_dynamic:
            return [(_SOLID, "each item", step.each)] if step.each else []
        return [(_SOLID, "", branch) for branch in step.targets()]
    if isinstance(step, Synchronize | Discriminator | SimpleMerge | Wait):
        return [(_SOLID, "", step.next)] if step.next else []
    if isinstance(step, RequestReaction):
        out = [(_SOLID, "reply", step.next)] if step.next else []
        if step.fault_next:
            out.append((_DASHED, "fault", step.fault_next))
        if step.on_timeout:
            out.append((_DASHED, f"timeout {_seconds(step.timeout or 0)}", step.on_timeout))
        return out
    if isinstance(step, DeferredChoice):
        out = [(_SOLID, f"event {name}", target) for name, target in step.events.items()]
        if step.fault_next:
            out.append((_DASHED, "fault", step.fault_next))
        if step.on_timeout:
            out.append((_DASHED, f"timeout {_seconds(step.timeout or 0)}", step.on_timeout))
        return out
    return [(_SOLID, "", target) for target in step.targets()]


# -- text ---------------------------------------------------------------------------------


def _escape(text: str) -> str:
    r"""Make ``text`` safe inside a quoted Mermaid label (newlines become spaces).

    Control characters are written as escapes (``\x1b``): printed to a terminal by
    ``actors graph``, a step name's escape sequence would be obeyed.
    """
    flat = printable(" ".join(str(text).split()))
    escaped = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], flat)
    return _ENTITY_CODE.sub(r"\1&semi;", escaped)


def _comment(text: str) -> str:
    """Text for a ``%%`` comment line: one line, and no braces (``%%{`` opens a directive)."""
    return printable(" ".join(str(text).split())).replace("{", "(").replace("}", ")")


def _describe(fn: Any) -> str | None:
    """A readable name for a spec or a function of the data; ``None`` for a bare lambda."""
    description = getattr(fn, "description", None)
    if isinstance(description, str) and description and description != "<lambda>":
        return description
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name and name != "<lambda>":
        return f"{name}(data)"
    return None


def _seconds(value: float) -> str:
    """``60`` -> ``"60 s"``, ``0.5`` -> ``"0.5 s"``, ``90`` -> ``"1 min 30 s"``."""
    seconds = float(value)
    if seconds >= 60 and seconds == int(seconds):
        minutes, rest = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
        parts.append(f"{rest} s" if rest else "")
        return " ".join(p for p in parts if p)
    return f"{seconds:g} s"
