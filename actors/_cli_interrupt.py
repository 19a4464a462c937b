"""Ctrl-C that waits for the end of a step a command must not leave half done.

``actors enqueue --file`` writes a batch, then prints the ids of its cases. A Ctrl-C
that lands after the batch's transaction committed (inside the store's call, or while
the ids print) used to stop the command there: the batch was written but counted as
not written, and some of its ids were never printed, so the user, told to run the
lines after the last counted batch again, wrote those cases twice. SIGTERM (``kill``,
``timeout``, a CI job cancelled) did the same, and said nothing: ``terminate_as_interrupt``
makes it a Ctrl-C while such a command runs.

One sender may deliver a signal twice at once (``timeout`` signals the command, then its
process group): a repeat of the first signal within ``ONE_REQUEST`` seconds is that same
request, not a second one.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "ONE_REQUEST",
    "AgainInterrupt",
    "OneRequest",
    "interrupt_after",
    "one_request",
    "terminate_as_interrupt",
]

ONE_REQUEST = 1.0
"""Seconds within which the first stop signal's repeats count as that same request."""

_monotonic = time.monotonic  # a test moves it


class AgainInterrupt(KeyboardInterrupt):
    """A second Ctrl-C within ``interrupt_after``: the step under way was cut short."""


class _Terminate:
    """SIGTERM as Ctrl-C: ``KeyboardInterrupt`` once, its copies within a second ignored."""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        now = _monotonic()
        if self.first is not None and now - self.first < ONE_REQUEST:
            return  # the first SIGTERM, delivered again
        self.first = now
        raise KeyboardInterrupt


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM stops the command as Ctrl-C does (``interrupt_after`` too).

    Only in the main thread, where handlers can be set, and only where SIGTERM has its
    default action (an application's own handler is left alone).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _Terminate())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def interrupt_after() -> Iterator[Callable[[], bool]]:
    """Run the block whole: a Ctrl-C within it raises ``KeyboardInterrupt`` at its end.

    It gives a function that says whether a Ctrl-C came yet, for a block that can stop
    early between two of its parts (``jobs prune``, between two batches).

    A second Ctrl-C (a store that does not answer, say) raises ``AgainInterrupt`` at
    once, so the command can still be stopped; the first one delivered again within
    ``ONE_REQUEST`` seconds is not a second. SIGTERM under ``terminate_as_interrupt``
    is a Ctrl-C here too, also where SIGINT is ignored (a shell's background job), which
    it stays. Outside the main thread, where signal handlers cannot be set, or when
    SIGINT is the application's own handler, the block runs as it is.
    """
    sigint = signal.getsignal(signal.SIGINT)
    term = signal.getsignal(signal.SIGTERM)
    deferred = [
        *([signal.SIGINT] if sigint is signal.default_int_handler else []),
        *([signal.SIGTERM] if isinstance(term, _Terminate) else []),
    ]
    if (
        threading.current_thread() is not threading.main_thread()
        or sigint not in (signal.default_int_handler, signal.SIG_IGN)
        or not deferred
    ):
        yield lambda: False
        return
    caught: list[tuple[int, float]] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        now = _monotonic()
        if caught and (signum != caught[0][0] or now - caught[0][1] >= ONE_REQUEST):
            raise AgainInterrupt
        if not caught:
            caught.append((signum, now))

    for signum in deferred:
        signal.signal(signum, defer)
    try:
        yield lambda: bool(caught)
    finally:
        signal.signal(signal.SIGINT, sigint)
        if isinstance(term, _Terminate):
            if caught and caught[0][0] == signal.SIGTERM:
                term.first = caught[0][1]  # its copies, still to come, are this request
            signal.signal(signal.SIGTERM, term)
    if caught:
        raise KeyboardInterrupt


class OneRequest:
    """SIGINT and SIGTERM as one stop request: its copies within ``ONE_REQUEST`` ignored.

    The first raises ``KeyboardInterrupt`` (at the end of a ``whole`` block, if it came
    within one); a later one is a second request, ``AgainInterrupt`` at once.
    """

    def __init__(self) -> None:
        self.first: float | None = None
        self._held = 0
        self._pending = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        now = _monotonic()
        if self.first is not None:
            if now - self.first < ONE_REQUEST:
                return  # the first request, delivered again
            raise AgainInterrupt
        self.first = now
        if self._held:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextmanager
    def whole(self) -> Iterator[None]:
        """Run the block whole: the first stop request within it is raised at its end."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if self._pending and not self._held:
            self._pending = False
            raise KeyboardInterrupt


@contextmanager
def one_request() -> Iterator[OneRequest | None]:
    """While the block runs, SIGINT and SIGTERM are one stop request (see ``OneRequest``).

    ``timeout`` sends its signal to the command, then to its process group: an action
    that withdraws its request on the first must not be cut short by the copy. Only in
    the main thread, and only where both signals have Python's own default (an
    application's handlers are left alone); else it gives ``None`` and changes nothing.
    A SIGINT ignored (a shell's background job: ``actors events send ... &``) stays
    ignored, and SIGTERM is the stop request alone.
    """
    sigint = signal.getsignal(signal.SIGINT)
    if (
        threading.current_thread() is not threading.main_thread()
        or sigint not in (signal.default_int_handler, signal.SIG_IGN)
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield None
        return
    handler = OneRequest()
    if sigint is signal.default_int_handler:
        signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        yield handler
    finally:
        signal.signal(signal.SIGINT, sigint)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
