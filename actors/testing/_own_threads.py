"""Each simulated thread's own store state, for what the harness runs on its one thread."""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.testing._runtime import ActorCell, DeterministicRuntime

__all__ = ["OwnThreads"]


class OwnThreads:
    """Runs an action with the store's per-thread state of the thread whose act it is.

    A mixin of ``Actions``: the harness supplies the runtime, the store and ``_threads``
    (``None`` for a store that keeps no per-thread state).
    """

    runtime: DeterministicRuntime
    store: Any
    _threads: dict[object, Any] | None

    def _deliver_on_own_thread(self, cell: ActorCell) -> Any:
        """Deliver with the store's per-thread state of ``cell``'s (simulated) thread.

        A store that groups a runner's saves per thread (``commit="slice"``) would
        otherwise mix the saves of every actor the harness runs on its one thread.
        """
        return self._on_own_thread(cell, functools.partial(self.runtime.deliver, cell))

    def _on_own_thread(self, thread: Any, act: Callable[[], Any]) -> Any:
        """Run ``act`` with the store's per-thread state of ``thread`` (whose act it is).

        The threads: each actor's, each producer's, the writer's, the clock's, and that of
        the calls ``Harness.at`` makes and the events it releases. A producer resumed, or a
        call made, while a runner waits between two steps would otherwise write its
        admission into that runner's open slice, stored when the slice ends: after the
        case it admitted may have run and ended, which it then undid.
        """
        if self._threads is None:
            return act()
        store: Any = self.store
        own = self._threads.setdefault(thread, types.SimpleNamespace())
        outer, store._slice = store._slice, own
        try:
            return act()
        finally:
            store._slice = outer
