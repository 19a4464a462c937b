"""``explore(workers=N)``: seeds tried in forked worker processes, a failure replayed here.

Each worker is a fork of the test's process, so a scenario (often a closure or a lambda in
a test) needs no pickling; only seed ranges go out and one line per failure comes back.
The lowest failing seed is the one ``explore`` reports, as a run of one process would:
the caller replays it in its own process, where it raises with its whole report.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from actors._pykka_seam import registry_after_fork
from actors.testing._errors import HarnessError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["first_failure"]

# The run of one seed, set in each worker by its initializer. A fork inherits the
# initializer's arguments as they are: nothing of the scenario is pickled.
_run_seed: Callable[[int], Any] | None = None

_CHUNK = 32  # seeds per task: small enough that a found failure stops the rest soon


def first_failure(
    run_seed: Callable[[int], Any], seeds: range, workers: int
) -> tuple[int, str] | None:
    """The lowest seed in ``seeds`` whose ``run_seed(seed)`` raises, with what it raised.

    ``None`` when every run passed. Raises ``ValueError`` where processes cannot be
    forked (the scenario could not reach them otherwise).
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        msg = (
            f"explore(workers={workers}) forks the test process, which this platform "
            "cannot do; use workers=1"
        )
        raise ValueError(msg)
    size = max(1, min(_CHUNK, len(seeds) // (workers * 4)))
    chunks = [seeds[i : i + size] for i in range(0, len(seeds), size)]
    context = multiprocessing.get_context("fork")
    # With fork, every worker starts at once, before the pool's own thread does.
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=context,
        initializer=_adopt,
        initargs=(run_seed,),
    )
    done = 0
    # Futures of our own, read in order (the first found is the lowest), never cancelled
    # here: Executor.map cancels its futures as the loop is left, and the pool's thread,
    # failing the ones still queued once the workers are stopped below, then raised
    # InvalidStateError on a cancelled one (in a thread: reported by the next test).
    futures = [pool.submit(_run_chunk, chunk) for chunk in chunks]
    try:
        for future in futures:
            found = future.result()
            if found is not None:
                return found
            done += 1
        return None
    except BrokenProcessPool:
        first = chunks[done][0]
        msg = (
            f"explore(workers={workers}): a worker process died while it ran seeds from "
            f"{first} on (before reaching seed {seeds[-1] + 1}); every seed below {first} "
            "passed. A scenario that ends its process (os._exit, a signal, running out of "
            f"memory) is found with explore(..., seed={first}, workers=1) or "
            "replay(scenario, seed=...) under a debugger"
        )
        raise HarnessError(msg) from None
    finally:
        # Found, or interrupted (Ctrl-C, a test's timeout): the chunks not started are
        # dropped, and those still running are stopped, not waited for: a later seed
        # that hangs must not hold up the lowest failure (one process never reaches it).
        for process in list(pool._processes.values()):  # no public way to stop them
            process.terminate()
        pool.shutdown(wait=True)  # the queued chunks fail with the stopped pool, unrun


def _adopt(run_seed: Callable[[int], Any]) -> None:
    global _run_seed  # noqa: PLW0603 - one per worker process, set once as it starts
    _run_seed = run_seed
    registry_after_fork()  # the harness registers its actors there


def _run_chunk(seeds: range) -> tuple[int, str] | None:
    assert _run_seed is not None
    for seed in seeds:
        try:
            _run_seed(seed)
        except BaseException as exc:  # reported; the caller replays it
            # Anything escaping would kill the worker, and the pool with it.
            return seed, _describe(exc)
    return None


def _describe(exc: BaseException) -> str:
    """``Type: first line`` of what a seed raised; its type alone if ``str()`` fails."""
    name = type(exc).__name__
    try:
        headline = str(exc).split("\n", 1)[0]
    except Exception:  # the error itself is replayed in the caller
        return f"{name} (its str() raised)"
    return f"{name}: {headline}" if headline else name
