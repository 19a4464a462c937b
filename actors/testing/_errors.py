"""What the deterministic harness raises when a simulated run goes wrong."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import pykka

from actors._errors import ActorsError

__all__ = ["Deadlock", "HarnessError", "InjectedCrash", "InvariantViolation", "Livelock"]


class HarnessError(ActorsError):
    """Root of the harness's own errors; the message carries the seed and the trace tail."""


class Deadlock(HarnessError):  # noqa: N818 - the name is the harness's public vocabulary
    """Nothing can run and no timer is set, yet work is unfinished (or an awaited future is not).

    The message is a report: which actor holds which job, which messages wait where,
    which producers are blocked, and which jobs are parked on what.
    """


class Livelock(HarnessError):  # noqa: N818 - the name is the harness's public vocabulary
    """The step budget ran out while actors were still busy: the run does not settle."""


class InvariantViolation(HarnessError, AssertionError):  # noqa: N818 - like Deadlock
    """A check of the engine's consistency or of a DESIGN invariant failed after a delivery."""


class InjectedCrash(Exception):  # noqa: N818 - it is not an error of the code under test
    """Raised at a fault point to crash a runner between two steps (never caught by the engine)."""

    log_level = logging.INFO
    """The engine logs the failure and the recovery at INFO: the test's doing, not a fault."""

    blames_job = False
    """Not the job's doing either: the engine does not count it toward faulting a job that
    kills every runner it is given (see ``actors._runner_failures``)."""


def closed_error(call: str) -> HarnessError:
    """What a closed ``Harness`` raises when ``call`` would run its simulation again."""
    return HarnessError(
        f"{call}: this Harness is closed (close() was called, or its with block ended); "
        "its actors are stopped. Start a new Harness (h.replay() repeats this run)"
    )


P = ParamSpec("P")
R = TypeVar("R")


def while_open(
    method: Callable[Concatenate[Any, P], R],
) -> Callable[Concatenate[Any, P], R]:
    """A harness method that raises ``closed_error`` once the harness is closed."""
    call = f"{method.__name__}()"

    @functools.wraps(method)
    def guarded(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._closed:
            raise closed_error(call)
        return method(self, *args, **kwargs)

    return guarded


def closed_driver() -> bool:
    """A closed harness's runtime driver: waiting on a future there is an error."""
    raise closed_error("waiting for a result or a reply")


def not_an_actor_class(behaviour: object) -> str:
    """Why ``Harness.actor(behaviour)`` refuses ``behaviour`` (not a pykka.Actor class)."""
    expected = "actor(behaviour): expected a pykka.Actor subclass (the class itself)"
    if isinstance(behaviour, pykka.ActorRef):
        return f"{expected}, got an ActorRef of {behaviour.actor_class.__name__} (already started)"
    if isinstance(behaviour, pykka.Actor):
        name = type(behaviour).__name__
        return f"{expected}, got an instance of {name}: pass {name} and its arguments"
    return f"{expected}, got {type(behaviour).__name__} {behaviour!r}"


def name_public_methods(cls: type) -> None:
    """Name every public method of ``cls`` after ``cls``, wherever it is defined.

    Harness methods come from mixins (``External``, ``Checking``...) that only the
    harness uses; Python names a function by where it was written, so a call with a
    wrong argument would say ``External.schedule() got an unexpected keyword argument``.
    Renamed, it says ``Harness.schedule()``, the method the test called.
    """
    for name in dir(cls):
        if name.startswith("_"):
            continue
        fn = inspect.getattr_static(cls, name)
        while inspect.isfunction(fn):
            fn.__qualname__ = f"{cls.__name__}.{name}"
            fn = getattr(fn, "__wrapped__", None)
