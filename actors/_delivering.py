"""Which engine's thread this is: a Runner delivering, or a Scheduler.

Its own module, imported by ``actors._engine`` and by what ``actors._engine`` imports
(``actors._handle``), so that a call made where it would wait for itself can tell.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors._engine import EngineConfig

__all__ = ["delivering"]


class _Delivering(threading.local):
    """The engine whose runner is delivering on this thread (``None`` outside one).

    ``scheduler``: the engine whose Scheduler this thread is (threads of their own only).
    ``runner``: the Runner delivering here (its ``running_case()`` is the case of the job
    whose task, ``send`` or ``merge`` may be calling in).
    """

    engine: EngineConfig | None = None
    scheduler: EngineConfig | None = None
    runner: Any = None


delivering = _Delivering()
"""Set by a Runner around each delivery (its tasks, ``send`` and ``merge`` run inside it),
so that a call that must not come from there (``Mediator.shutdown()``) can tell."""
