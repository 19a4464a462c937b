"""The roster of the runners an engine started, where a shutdown finds them (no actor here)."""

from __future__ import annotations

import gc
import threading

from actors._runner_roster import RunnerRoster


class FakeRef:
    """What the roster reads of a runner's ref: whether its actor has stopped."""

    def __init__(self) -> None:
        self.actor_stopped = threading.Event()


def test_a_restart_drops_the_runner_that_stopped_and_keeps_the_others_in_start_order() -> None:
    roster = RunnerRoster()
    first, second, again = FakeRef(), FakeRef(), FakeRef()
    roster.add(0, first)
    roster.add(1, second)
    first.actor_stopped.set()  # runner 0 failed: the Scheduler restarts it
    roster.add(0, again)
    assert roster.started() == [(1, second), (0, again)]


def test_a_runner_let_go_of_is_not_kept_alive_by_the_roster() -> None:
    """It holds refs weakly: the engine, which every runner holds, must not hold them back."""
    roster = RunnerRoster()
    kept, dropped = FakeRef(), FakeRef()
    roster.add(0, kept)
    roster.add(1, dropped)
    del dropped
    gc.collect()  # a plain object goes with its last reference; this only makes sure
    assert roster.started() == [(0, kept)]
