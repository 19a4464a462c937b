"""What running a step ends a runner's slice of a job with: the interpreter's effects.

``End``, ``Park``, ``Request``, ``Split`` and ``Arrive`` are what ``Interpreter`` returns
and the runner carries out (see ``actors._interpreter``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actors._job import JobState, StepContext

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Arrive", "Effect", "End", "Park", "Request", "Split"]


@dataclass(slots=True)
class End:
    """The job ends (DONE, FAULTED or CANCELLED) with ``error``; the runner saves it.

    ``cause``: what the user's code raised, when it faulted the job (its traceback goes
    with the fault's log line).
    """

    state: JobState
    error: str | None
    cause: BaseException | None = None


@dataclass(slots=True)
class Park:
    """The job waits ``delay`` seconds from now (``None``: no timer) and/or on events."""

    delay: float | None
    correlations: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Request:
    """Park as ``Park`` says, and once that is stored, call ``send(data, context)``.

    ``data`` is a copy: the job may resume elsewhere while ``send`` runs.
    """

    park: Park
    send: Callable[[Any, StepContext], Any]
    data: Any
    context: StepContext


@dataclass(slots=True)
class Split:
    """Start one branch per ``(start step, data)``; the job waits on them (fields set)."""

    starts: list[tuple[str, Any]]


@dataclass(slots=True)
class Arrive:
    """A branch reached join ``step``: count its data at its parent (``needed``: 1 or all)."""

    step: str
    needed: int | None


Effect = End | Park | Request | Split | Arrive
# The effects are values: nothing changes one once it is made. They are not frozen
# dataclasses only because a frozen one costs three times as much to make, and a
# runner makes one at the end of every slice.
