"""Ctrl-C that waits for the end of a step a command must not leave half done.

``actors enqueue --file`` writes a batch, then prints the ids of its cases. A Ctrl-C
that lands after the batch's transaction committed (inside the store's call, or while
the ids print) used to stop the command there: the batch was written but counted as
not written, and some of its ids were never printed, so the user, told to run the
lines after the last counted batch again, wrote those cases twice.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["AgainInterrupt", "interrupt_after"]


class AgainInterrupt(KeyboardInterrupt):
    """A second Ctrl-C within ``interrupt_after``: the step under way was cut short."""


@contextmanager
def interrupt_after() -> Iterator[None]:
    """Run the block whole: a Ctrl-C within it raises ``KeyboardInterrupt`` at its end.

    A second Ctrl-C (a store that does not answer, say) raises ``AgainInterrupt`` at
    once, so the command can still be stopped. Outside the main thread, where signal
    handlers cannot be set, or when SIGINT is not Python's own handler (ignored, or the
    application's), the block runs as it is.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    caught: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        if caught:
            raise AgainInterrupt
        caught.append(signum)

    signal.signal(signal.SIGINT, defer)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt
