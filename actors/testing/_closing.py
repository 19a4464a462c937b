"""How a ``Harness`` ends: ``close()``, its ``with`` block, and a block that ran nothing.

Closing lets go of what the run holds (its actors, the hooks that hold its recorder and
chooser, a store it opened), and leaves the trace, the report and the ended cases'
results readable. A ``with`` block that admitted cases and never ran them is refused as
it ends: the test's checks would look at a run that never happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.testing._errors import HarnessError, closed_driver

if TYPE_CHECKING:
    from actors.stores import Store
    from actors.testing._crashpoints import CrashPoints
    from actors.testing._external import Submission
    from actors.testing._runtime import DeterministicRuntime
    from actors.testing._step_hook import StepHook

__all__ = ["Closing"]

# Trace actions a producer takes by itself: a run holding only these never began.
_NOT_RUN = frozenset({"admit", "blocked", "refused"})


def _unrecorded(*_entry: object) -> None:
    """A closed harness's recorder: nothing more is traced."""


def _awake() -> int:
    """A closed harness's stall: none sleeps (nothing runs any more)."""
    return 0


class Closing:
    """How a ``Harness`` is closed (a mixin: the harness supplies the run)."""

    if TYPE_CHECKING:  # provided by the harness and its other mixins
        runtime: DeterministicRuntime
        points: CrashPoints
        store: Store
        submissions: list[Submission]
        _closed: bool
        _owned_store: bool
        _hook: StepHook
        _raw: list[Any]

        def _note_replay(self, error: BaseException) -> None: ...

    def close(self) -> None:
        """Stop every simulated actor at once (no ``on_stop``: the simulation is over).

        A store the harness opened from a URL is closed too; a store object given to it
        stays open for the test to read. The trace, ``report()`` and the results of ended
        cases stay readable; anything that would run the simulation again (``schedule()``,
        ``step()``, ``finish()``, a pending result's ``get()``...) raises ``HarnessError``.
        """
        self._closed = True
        self.runtime.stop_all()  # it unlinks the actors and forgets this harness's hooks
        self.runtime.driver = closed_driver  # a pending future's get() drives no more
        # The step hook and the crash points hold this harness's recorder and chooser:
        # let go of them, so a dropped harness is freed at once, not by a collection
        # (see release()).
        self._hook.record = self.points.record = _unrecorded
        self.points.sleep = _awake
        self._hook.between = None
        if self._owned_store:
            self._owned_store = False
            self.store.close()

    def __exit__(self, kind: object, error: object, *_: object) -> None:
        idle = None if kind is not None or self._closed else self._never_ran()
        if isinstance(error, Exception):
            # The test's own check (a plain assert) names no seed: a harness that picked
            # its own would leave the failure with nothing to replay it from.
            self._note_replay(error)
        self.close()
        if idle is not None:
            msg = f"the with block ended {idle}; run them inside it with h.finish()"
            raise HarnessError(msg)

    def _never_ran(self) -> str | None:
        """What is wrong if cases were admitted and nothing ever ran them, else ``None``.

        A test that schedules cases and checks their effects without ``finish()`` (or
        ``run_until_quiescent()``, ``step()``, a result) would check a run that never
        happened, and pass: leaving a ``with Harness(...)`` block (or a test using the
        ``harness`` fixture) so raises ``HarnessError``.
        """
        admitted = [str(s.job_id) for s in self.submissions if s.handle is not None]
        if not admitted or any(raw[2] not in _NOT_RUN for raw in self._raw):
            return None
        return (
            f"before anything ran: {len(admitted)} case(s) admitted ({', '.join(admitted)}) "
            "and no actor ever acted on them"
        )
