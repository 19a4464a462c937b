"""What a ``Harness`` checks, and when: after every top-level action, and when a test asks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from actors.testing._cells import users_actor
from actors.testing._errors import Deadlock, InjectedCrash, InvariantViolation, while_open

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.testing._cells import ActorCell
    from actors.testing._monitor import Monitor
    from actors.testing._probe import Probe
    from actors.testing._runtime import DeterministicRuntime

__all__ = ["Checking"]


class Checking:
    """The invariant checks of a ``Harness`` (a mixin: the harness supplies the run)."""

    monitor: Monitor
    probe: Probe
    runtime: DeterministicRuntime
    check: bool
    _closed: bool
    _depth: int
    _scheduler_ran: bool
    """Whether an action since the last check may have reached the Scheduler."""
    _at: list[tuple[int, int, Callable[[], Any]]]

    def _fail(
        self, kind: type[Exception], headline: str, cause: BaseException | None = None
    ) -> NoReturn:
        raise NotImplementedError

    def _options(self, *, nested: bool = False) -> list[Any]:
        raise NotImplementedError

    def _stuck(self) -> str:
        raise NotImplementedError

    @while_open
    def check_invariants(self) -> None:
        """Check every invariant now (the harness also does after every action)."""
        self._check(scheduler_ran=True)

    def _check(self, *, scheduler_ran: bool) -> None:
        try:
            self.monitor.check(self.probe.gate.capacity, scheduler_ran=scheduler_ran)
        except AssertionError as exc:
            self._fail(InvariantViolation, str(exc), exc)

    @while_open
    def check_invariant(self, number: int) -> None:
        """Check DESIGN invariant ``number`` (1-6) now (``InvariantViolation`` or ``Deadlock``).

        1: every live job is held by some actor, queue or message (nothing vanishes);
        2: a job is with one runner at a time; 3: a join fired once, after all branches;
        4: if nothing can run, nothing is stuck; 5: a crashed job resumed from its last
        save; 6: admitted, unstarted cases stay within capacity.
        """
        if number not in (1, 2, 3, 4, 5, 6):
            msg = f"Harness.check_invariant(number): the invariants are 1 to 6, got {number!r}"
            raise ValueError(msg)
        try:
            if number == 4:
                self.check_progress()
            else:
                self.monitor.check_one(number, self.probe.gate.capacity)
        except AssertionError as exc:
            self._fail(InvariantViolation, str(exc), exc)

    @while_open
    def check_progress(self) -> None:
        """Invariant 4: when nothing can run, no unfinished work is stuck (else ``Deadlock``)."""
        if not self._options() and not self._at:
            stuck = self._stuck()
            if stuck:
                self._fail(Deadlock, f"nothing can run but {stuck}")

    def _after(self) -> None:
        runtime = self.runtime
        if runtime.failures:
            failures, runtime.failures = runtime.failures, []
            for cell, exc in failures:
                if not isinstance(exc, InjectedCrash):
                    self._fail(InvariantViolation, _escaped(cell, exc), exc)
        if self.check and self._depth == 0:
            # Only between top-level actions: a nested get() (a task asking an actor) runs
            # while another actor is half-way through a handler.
            ran, self._scheduler_ran = self._scheduler_ran, False
            self._check(scheduler_ran=ran)


def _escaped(cell: ActorCell, exc: BaseException) -> str:
    """What an exception that escaped ``cell``'s actor (told a message, or starting) says."""
    raised = f"raised {type(exc).__name__}: {exc}"
    if not users_actor(cell.actor):
        return f"{cell.name} {raised} (an engine bug)"
    cls = type(cell.actor)
    return (
        f"{cell.name} (your actor {cls.__qualname__}) {raised}: with "
        "threads pykka logs it and stops the actor, and what is asked of it then raises "
        "ActorDeadError; catch it in the actor (one raised answering an ask goes to the "
        "asker instead)"
    )
