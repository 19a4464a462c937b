"""The actor classes a ``DeterministicRuntime`` builds: a behaviour mixed with its hooks.

A simulated class is ``(SimActor, behaviour, SimInit)``: ``SimActor`` plugs the runtime
into pykka's three hooks (an inbox, a future, the actor loop), ``SimInit`` does pykka's
``__init__`` more cheaply, and each actor's stop flag is a ``Stopped``. The classes of a
runtime that stopped wait in ``RELEASED`` for the next runtime to take them over.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

import pykka

from actors._pykka_seam import hooks, init_fields
from actors.testing._cells import Inbox
from actors.testing._future import DeterministicFuture

if TYPE_CHECKING:
    from actors._pykka_seam import ActorInbox
    from actors.testing._runtime import DeterministicRuntime

__all__ = ["RELEASED", "STOPPED", "RuntimeActor", "SimActor", "SimInit", "Stopped"]


class RuntimeActor(pykka.Actor):
    """An actor class of a ``DeterministicRuntime``: the runtime that serves its hooks."""

    _actors_runtime: ClassVar[DeterministicRuntime]


def _sim_inbox(cls: type[RuntimeActor]) -> ActorInbox:
    return Inbox(
        cls._actors_runtime,
        frozenset(getattr(cls, "urgent_messages", ())),
        getattr(cls, "told_as", None),
    )


def _sim_future(cls: type[RuntimeActor]) -> pykka.Future[Any]:
    return DeterministicFuture(cls._actors_runtime)


def _sim_loop(actor: RuntimeActor) -> None:
    # pykka has registered the actor; the runtime runs its on_start as the first
    # delivery the driver chooses, as a thread would run it some time after start().
    actor._actors_runtime.register(actor)


# Mixed into an actor behaviour class: pykka's runtime hooks, served by the runtime.
SimActor = type(
    "_SimActor",
    (RuntimeActor,),
    {"__module__": __name__, **hooks(inbox=_sim_inbox, future=_sim_future, loop=_sim_loop)},
)


class Stopped:
    """An actor's stop flag, with what ``threading.Event`` offers.

    No other thread can set it while a caller waits, so ``wait()`` drives the runtime
    until the actor has stopped, as a future's ``get()`` does (virtual time passes for
    its ``timeout``): ``Mediator.shutdown()`` waits so for each runner to handle its stop.
    """

    __slots__ = ("_runtime", "_set")

    def __init__(self, runtime: DeterministicRuntime | None = None) -> None:
        self._set = False
        # Weak: a ref the test keeps does not keep the whole run alive.
        self._runtime = None if runtime is None else weakref.ref(runtime)

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        runtime = None if self._runtime is None else self._runtime()
        if self._set or runtime is None:
            return self._set
        with contextlib.suppress(pykka.Timeout):
            runtime.drive_until(self.is_set, timeout, what="an actor's stop")
        return self._set


_URNS = itertools.count(1)  # one process, many harnesses: urns stay unique in the registry


class SimInit(pykka.Actor):
    """Placed after the behaviour in a simulated class: pykka's ``__init__``, cheaper.

    A random urn and a ``threading.Event`` per actor cost about 4 us, and a harness
    starts three actors or more for each schedule. The urns also come out the same on
    every run of a seed.
    """

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        runtime = getattr(type(self), "_actors_runtime", None)
        init_fields(self, f"urn:harness:{next(_URNS)}", Stopped(runtime))


# Actor classes of runtimes that stopped, by behaviour, for the next runtime to take over:
# building a class (an ABC) costs as much as a schedule's checks, and every class built
# stays in its bases' subclass registries until the garbage collector finds its cycle.
RELEASED: dict[type, list[type[RuntimeActor]]] = {}
# The runtime released classes point to until taken over: it holds nothing, so a closed
# run is not kept alive by a class waiting here. Made on first use.
STOPPED: list[DeterministicRuntime] = []
