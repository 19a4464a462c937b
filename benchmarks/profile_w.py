"""Where W's time goes in memory: the engine's own CPU per workflow, with no threads.

    python benchmarks/profile_w.py cpu        # CPU per workflow, min of 5 runs
    python benchmarks/profile_w.py profile    # cProfile of one run, by own time
    python benchmarks/profile_w.py counts     # messages, saves and copies per workflow

The same Scheduler and Runner classes run under a runtime that delivers every message
on one thread, in turn, until all inboxes are empty; cases are admitted 64 at a time
(the pykka floor's window). With no thread switches, no lock waits and no other actor
running meanwhile, what is measured is the engine's own work, and a cProfile of it is
not skewed by the GIL. Compare two trees by running this in each, interleaved
(``PYTHONPATH=<tree>``); the threaded figure is ``bench_engine.py w``'s.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import pstats
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import pykka

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import workload_w

from actors import FullMode, JobState, Mediator
from actors._pykka_seam import handle_receive, hooks
from actors._runtime import LatchFuture

WINDOW = 64


class _Inbox(deque[Any]):
    def put(self, envelope: Any, /) -> None:
        self.append(envelope)

    def get(self) -> Any:
        return self.popleft()

    def empty(self) -> bool:
        return not self


class OneThreadRuntime:
    """Actors whose messages ``drive()`` delivers on the calling thread."""

    starts_synchronously = True

    def __init__(self) -> None:
        self.actors: list[pykka.Actor] = []
        self._classes: dict[type[Any], type[Any]] = {}

    def actor_class(self, behaviour: type[Any]) -> type[Any]:
        cls = self._classes.get(behaviour)
        if cls is None:
            cls = self._classes[behaviour] = type(
                behaviour.__name__,
                (behaviour, pykka.Actor),
                {
                    "__module__": behaviour.__module__,
                    **hooks(
                        inbox=lambda _: _Inbox(),
                        future=lambda _: LatchFuture(),
                        # A function, so that it binds to the actor: a bound method would not.
                        loop=lambda actor: self._loop(actor),  # noqa: PLW0108
                    ),
                },
            )
        return cls

    def create_future(self) -> pykka.Future[Any]:
        return LatchFuture()

    def _loop(self, actor: pykka.Actor) -> None:
        self.actors.append(actor)
        actor.on_start()

    def drive(self) -> None:
        """Deliver messages, actor by actor, until every inbox is empty."""
        busy = True
        while busy:
            busy = False
            for actor in self.actors:
                inbox: _Inbox = actor.actor_inbox  # type: ignore[assignment]
                while inbox:
                    busy = True
                    envelope = inbox.popleft()
                    answer = handle_receive(actor, envelope.message)
                    if envelope.reply_to is not None:
                        envelope.reply_to.set(answer)


def run(n: int) -> None:
    """``n`` W workflows, ``WINDOW`` at a time, each checked DONE."""
    runtime = OneThreadRuntime()
    mediator = Mediator(
        [workload_w()],
        runners=4,
        capacity=1000,
        full_mode=FullMode.BACKPRESSURE,
        store="memory://",
        runtime=runtime,
    )
    runtime.drive()
    for first in range(0, n, WINDOW):
        handles = [mediator.schedule("w", {}) for _ in range(min(WINDOW, n - first))]
        runtime.drive()
        for handle in handles:
            assert handle.result(timeout=0).state is JobState.DONE


def cpu(n: int) -> None:
    run(200)  # imports and first calls, not timed
    per_wf = []
    for _ in range(5):
        began = time.process_time()
        run(n)
        per_wf.append((time.process_time() - began) / n * 1e6)
    runs = ", ".join(f"{x:.1f}" for x in per_wf)
    print(f"CPU per W workflow, one thread: min {min(per_wf):.1f} us (runs {runs})")


def profile(n: int, sort: str) -> None:
    run(200)
    profiler = cProfile.Profile()
    profiler.enable()
    run(n)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(40)
    print(out.getvalue())


def counts(n: int) -> None:
    """Count calls of the hot seams per workflow by wrapping them."""
    from actors._channel import WorkChannel
    from actors.stores._codec import Codec
    from actors.stores._memory import MemoryStore

    seen: collections.Counter[str] = collections.Counter()

    def wrap(owner: type[Any], name: str, label: str) -> None:
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            seen[label] += 1
            return original(*args, **kwargs)

        setattr(owner, name, counted)

    original_tell = pykka.ActorRef.tell

    def tell(ref: pykka.ActorRef[Any], message: Any) -> None:
        seen[f"message {type(message).__name__}"] += 1
        original_tell(ref, message)

    pykka.ActorRef.tell = tell  # type: ignore[method-assign,assignment]
    for name in ("_put", "record_arrival"):
        wrap(MemoryStore, name, f"store {name}")
    for name in ("put", "take"):
        wrap(WorkChannel, name, f"channel {name} (a lock each)")
    wrap(Codec, "copy", "data copy")
    run(n)
    for label, count in sorted(seen.items()):
        print(f"{label:40s} {count / n:6.2f} per workflow")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("what", choices=["cpu", "profile", "counts"])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--sort", default="tottime", help="pstats sort key for profile")
    args = parser.parse_args(argv)
    if args.what == "cpu":
        cpu(args.n)
    elif args.what == "profile":
        profile(args.n, args.sort)
    else:
        counts(args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
