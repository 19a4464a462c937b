"""The cyclic garbage collector's pace while engines run in this process.

A running engine keeps many objects alive from one step to the next: the cases in flight,
each job's last save and step history, the finished jobs a memory store retains.
CPython's collector runs its youngest generation every 700 (net) allocations of container
objects and its middle one every tenth time, walking each time every young object that
survived, so with an engine running it walks mostly live records and frees nothing: the
engine's hot path makes no reference cycles (a test checks it), so reference counting
frees every record it drops. On workload W in memory those walks, and the stalls they
cause the other threads, cost between a quarter and two fifths of the engine's time, and most
of the run-to-run spread (see ``benchmarks/README.md``).

So while at least one Mediator runs in the process, the first threshold is raised to
``THRESHOLD`` if it is lower, and the third to ``OLDEST`` with it. A full collection walks
every object alive, and a wide split holds all its branches alive until its join: on
SQLite one case of 100,000 branches ran two of them (the longer 0.4 s, every other thread
stopped) and spent 1.7 to 1.9 s in the collector, where a split of 10,000 ran none. With
full collections ten times rarer, none runs in that case, which spends 0.94 to 0.98 s in
the collector (see ``benchmarks/README.md``, "One split into N branches"). The last
Mediator to stop puts back the thresholds it found, unless something else changed them
meanwhile. Cycles made by other code are still collected, a little later.
``Mediator(tune_gc=False)`` leaves the collector alone.
"""

from __future__ import annotations

import gc
import threading

from actors._fork import lock_across_forks

__all__ = ["OLDEST", "THRESHOLD", "hold", "holders", "release"]

THRESHOLD = 10_000  # the youngest generation's threshold while an engine runs
OLDEST = 100  # the oldest generation's, raised with the youngest's (CPython's: 10)

_lock = lock_across_forks(threading.Lock())
_holders = 0
_found: tuple[int, ...] | None = None  # the thresholds before the first holder
_set: tuple[int, ...] | None = None  # what the first holder set


def hold() -> None:
    """A Mediator starts: raise the first threshold if it is below ``THRESHOLD`` (and the third)."""
    global _holders, _found, _set  # noqa: PLW0603 - one setting per process
    with _lock:
        _holders += 1
        if _holders > 1:
            return
        found = gc.get_threshold()
        _found, _set = found, None
        if 0 < found[0] < THRESHOLD:  # 0: the user turned automatic collection off
            gc.set_threshold(THRESHOLD, found[1], max(found[2], OLDEST))
            _set = gc.get_threshold()


def release() -> None:
    """A Mediator stopped: the last one puts back the thresholds the first one found."""
    global _holders, _found, _set  # noqa: PLW0603 - one setting per process
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders > 0:
            return
        if _set is not None and _found is not None and gc.get_threshold() == _set:
            gc.set_threshold(*_found)  # left alone if the program changed them meanwhile
        _found = _set = None


def holders() -> int:
    """How many running Mediators hold the raised threshold (for tests)."""
    with _lock:
        return _holders
