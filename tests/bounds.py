"""Bounds on real waits in threaded tests: one for the whole suite.

A bound is never waited out when a test passes (tests wait on events and futures, which
end as soon as the engine does its part), so it is generous: it only decides how long
a broken engine hangs before its test fails, and it must outlast a loaded CI machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

TIMEOUT = 30.0  # seconds


def wait_until(
    check: Callable[[], object], what: str = "the condition", *, every: float = 0.01
) -> None:
    """Check ``check()`` every ``every`` seconds until it holds; fail after ``TIMEOUT``.

    Only for what no event can tell: a state another thread or process brings about in a
    store (a runner parks a case, a worker in another process finishes one).
    """
    deadline = time.monotonic() + TIMEOUT
    pause = threading.Event()
    while not check():
        assert time.monotonic() < deadline, f"timed out after {TIMEOUT}s waiting for {what}"
        pause.wait(every)
