"""What a worker keeps per job or per case, counted: all of it goes once the jobs are gone.

A worker runs for months; every entry one of these structures keeps for a case that has
ended, was cancelled or went to another worker is memory it never gets back. Read from
the test's thread once the engine is quiet (each is a size, read in one step). Memories
bounded by design (lost case ids, stale copies' records, answered correlation ids) are
not counted: they stay full on a busy worker.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bounds import TIMEOUT, wait_until

from actors import Mediator, RequestReaction, Sequential, Workflow
from actors._scheduler import Scheduler


def leftovers(mediator: Mediator) -> Callable[[], dict[str, int]]:
    """What ``mediator``'s worker keeps: the size of each such structure, non-empty ones.

    The Scheduler is found once (its actor ref does not lead to it), so that the
    function returned can be polled.
    """
    engine = mediator._engine
    # Another test's Scheduler may still be in memory, one whose start failed half-made.
    [scheduler] = [
        o for o in gc.get_objects() if isinstance(o, Scheduler) and getattr(o, "_e", None) is engine
    ]
    return lambda: _sizes(mediator, scheduler)


def _sizes(mediator: Mediator, scheduler: Any) -> dict[str, int]:
    channel = mediator._engine.channel
    book = scheduler._book
    fx = scheduler._fx
    sizes = {
        "channel.running": len(channel.running),
        "channel.storing": len(channel.storing),
        "channel.last_look": len(channel.last_look),
        "book.jobs": len(book.jobs),
        "book.kids": len(book.kids),
        "book.held": len(book.held),
        "book.cancels": len(book.cancels),
        "book.stopping": len(book.stopping),
        "book.out": len(book.out),
        "correlations": len(scheduler._correlations.by_job()),
        "correlations.early": len(scheduler._correlations._early),
        "timers": scheduler._time.jobs(),
        "cancels.owed": len(scheduler._cancels.owed),
        "runner_failures": len(scheduler._failures.counts),
        "unsaved_slices": len(fx.unsaved.counts),
        "stale.cases": len(fx.stale._stale),
        "stale.held": len(fx.stale._held),
        "handles": len(mediator._engine.handles._handles),
        "handles.reply_to": len(mediator._engine.handles._reply_to),
        "places": _places(book.places),
    }
    return {name: size for name, size in sizes.items() if size}


def wait_for_nothing_kept(kept: Callable[[], dict[str, int]]) -> None:
    """Wait until ``kept()`` (from ``leftovers``) is empty; else fail, showing what is kept."""
    try:
        wait_until(lambda: not kept(), "the worker to keep nothing per case")
    except AssertionError:
        left = kept()
        assert not left, f"the worker keeps entries of cases it no longer holds: {left}"
        raise


def _places(places: Any) -> int:
    """Jobs a shared store's worker counts for its places, less those it recounts next."""
    counted = getattr(places, "_of", None)  # none when places are recounted each time
    if counted is None:
        return 0
    recounted = set(places._marked)  # copied in one step: the Scheduler changes both
    return sum(job_id not in recounted for job_id in list(counted))


@dataclass
class HeldFlows:
    """Workflow ``plain`` held in its step ``a`` until ``first``; ``asks`` held in its reply.

    ``asks`` sends nothing; its ``on_reply`` sets ``in_reply`` and waits for ``second``.
    """

    first: threading.Event = field(default_factory=threading.Event)
    second: threading.Event = field(default_factory=threading.Event)
    in_reply: threading.Event = field(default_factory=threading.Event)

    def flows(self) -> list[Workflow]:
        def hold(data: dict[str, Any]) -> None:
            assert self.first.wait(TIMEOUT), "the test never let the step go"

        def on_reply(data: dict[str, Any], reply: Any) -> None:
            self.in_reply.set()
            assert self.second.wait(TIMEOUT), "the test never let the reply go"

        return [
            Workflow(
                "plain", [Sequential("a", hold, next="b"), Sequential("b", lambda d: None)], "a"
            ),
            Workflow(
                "asks", [RequestReaction("ask", send=lambda d, c: None, on_reply=on_reply)], "ask"
            ),
        ]
