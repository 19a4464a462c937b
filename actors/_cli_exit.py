"""The ``actors`` program's exit: the application's pykka actors stop with it.

A workflows module may start actors of its own when it is imported (a service its tasks
ask, as the embedding guide shows). Their threads are not daemons, so once a command had
done its work (``graph`` printed, ``enqueue`` wrote its cases, a ``worker`` stopped on
SIGTERM) Python waited for them at exit, and the program never ended.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

__all__ = ["run_then_stop_actors"]

_STOP_TIMEOUT = 10.0  # seconds for the actors still running to stop, each one


def run_then_stop_actors(program: Callable[[], object]) -> None:
    """Run ``program``; then stop every pykka actor still running, as the process ends."""
    try:
        program()
    finally:
        pykka = sys.modules.get("pykka")  # no actor can run if nothing imported pykka
        if pykka is not None:
            # Last started, first stopped, as ActorRegistry.stop_all does; one that fails
            # or outlasts its timeout does not keep the others running.
            for ref in reversed(pykka.ActorRegistry.get_all()):
                with contextlib.suppress(Exception):
                    ref.stop(block=True, timeout=_STOP_TIMEOUT)
