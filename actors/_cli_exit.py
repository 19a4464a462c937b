"""The ``actors`` program's exit: the application's pykka actors stop with it.

A workflows module may start actors of its own when it is imported (a service its tasks
ask, as the embedding guide shows). Their threads are not daemons, so once a command had
done its work (``graph`` printed, ``enqueue`` wrote its cases, a ``worker`` stopped on
SIGTERM) Python waited for them at exit, and the program never ended.

A command whose output is closed before it has printed everything (``actors status |
head -1``: ``head`` exits with its line) stops quietly, with the status a program the
signal ends has (``OUTPUT_CLOSED_EXIT``); click exited 1 instead, and Python's flush of
``sys.stdout`` at exit wrote ``Exception ignored ... BrokenPipeError`` on stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

__all__ = ["OUTPUT_CLOSED_EXIT", "drop_output", "run_then_stop_actors"]

_STOP_TIMEOUT = 10.0  # seconds for the actors still running to stop, each one

OUTPUT_CLOSED_EXIT = 141
"""A command's status when its output was closed before it had printed all: 128 + SIGPIPE,
as shells report a program that signal ends (``seq 1 100000 | head -1``)."""


def drop_output() -> None:
    """Send what is left for ``sys.stdout`` to ``/dev/null``: its output was closed.

    What stays in its buffer is flushed again as the process exits; to a closed pipe that
    failed once more, and Python wrote the error on stderr.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # not a file (a test's capture): nothing is flushed later
        pass


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
