"""Running a ``Harness``: one action, or actions until nothing is left to do.

How each action is chosen and taken is ``Actions``'s; this is the loop around it, its
budget, and the ``Deadlock`` or ``Livelock`` a run that cannot settle ends in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from actors.testing._arguments import need_count
from actors.testing._errors import Deadlock, Livelock, while_open

if TYPE_CHECKING:
    from actors.testing._step_hook import StepHook

__all__ = ["Running"]


class Running:
    """How a ``Harness`` runs (a mixin: the harness supplies the run)."""

    if TYPE_CHECKING:  # provided by the harness and its other mixins
        actions: int
        max_steps: int
        _hook: StepHook
        _frozen: bool

        def _step(self, pick: int | None = None) -> bool: ...
        def _fail(
            self, kind: type[Exception], headline: str, cause: BaseException | None = None
        ) -> NoReturn: ...
        def _unsettled(self, actions: str) -> str: ...
        def _stuck(self) -> str: ...

    # -- running ----------------------------------------------------------------------------------

    @while_open
    def step(self, pick: int | None = None) -> bool:
        """Take one action; ``False`` when nothing is left to do (quiescent).

        ``pick`` chooses among the enabled actions (modulo their number) instead of the
        chooser: how a stateful test steers the interleaving.
        """
        return self._step(pick)

    @while_open
    def run_until_quiescent(
        self, max_steps: int | None = None, *, advance_time: bool = True
    ) -> int:
        """Run until nothing is left to do; return how many actions ran.

        Raises ``Deadlock`` if work is left that cannot finish (jobs waiting only on
        external events, which the test may still send, are not a deadlock), and
        ``Livelock`` after ``max_steps`` actions (default: the harness's budget).

        ``advance_time=False`` stops before the virtual clock would move: every action
        that can run at the current time has run, and no timer has fired early. Jobs
        parked on a timer (a request's timeout, a ``Wait``) are then still parked, so
        the test can answer a request before its timeout, or ``advance()`` the clock
        itself.
        """
        if max_steps is not None:
            need_count(max_steps, "Harness.run_until_quiescent(max_steps)", least=1)
        self._frozen, frozen = not advance_time, self._frozen
        try:
            return self._run_quiet(max_steps)
        finally:
            self._frozen = frozen

    def _run_quiet(self, max_steps: int | None) -> int:
        start = self.actions
        budget = max_steps if max_steps is not None else self.max_steps
        limit = start + budget
        self._hook.cap, cap = budget, self._hook.cap
        try:
            step = self._step
            while step():
                if self.actions >= limit:
                    self._fail(Livelock, self._unsettled(f"{self.actions - start} actions"))
        finally:
            self._hook.cap = cap
        stuck = self._stuck()
        if stuck:
            self._fail(Deadlock, f"the run is quiescent but {stuck}")
        return self.actions - start
