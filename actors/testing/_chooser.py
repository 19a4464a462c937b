"""Choosers: every scheduling decision of a simulated run goes through exactly one of these."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Chooser", "DataChooser", "SeededChooser", "fresh_seed"]


class Chooser(Protocol):
    """Picks one of ``n`` options (``n >= 2``); option 0 is always the canonical one."""

    def choose(self, n: int) -> int:
        """An index in ``range(n)``."""


class SeededChooser:
    """Uniform choices from a ``random.Random`` seeded with ``seed``: same seed, same run."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        # Private to this chooser and fully determined by ``seed``, so it needs no
        # registration with Hypothesis (which would cost a gc.collect() per harness);
        # the module-level generator below, whose state does persist, is registered.
        self._rng = random.Random(seed)
        # What randrange(n) returns for n >= 1, without its argument checks (a choice is
        # made before most actions): the same index for the same seed.
        self._below: Callable[[int], int] = getattr(self._rng, "_randbelow", self._rng.randrange)

    def choose(self, n: int) -> int:
        """A uniform index in ``range(n)``."""
        return self._below(n)


class DataChooser:
    """Choices drawn from Hypothesis data, so a failing interleaving shrinks.

    One draw of ``st.randoms(use_true_random=False)`` backs every choice: each
    ``randrange(n)`` is an integer drawn from the test case's data (as a
    ``data.draw(st.integers(0, n - 1))`` would be), shrinking towards option 0, without a
    "Draw n:" line per choice in the failure report and at a quarter of the cost.
    """

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._rng: random.Random = data.draw(
            st.randoms(note_method_calls=False, use_true_random=False), label="interleaving"
        )

    def choose(self, n: int) -> int:
        """An index in ``range(n)`` drawn from the Hypothesis data."""
        return self._rng.randrange(n)


# Picks a seed for a Harness built without one. It lives for the whole process, so it is
# registered with Hypothesis (which keeps only a weak reference: the module keeps the
# strong one): inside a Hypothesis test its state is reset per example, so a seedless
# Harness cannot make a property flaky.
_SEEDS = random.Random()
try:
    from hypothesis import register_random
except ImportError:  # pragma: no cover - hypothesis is optional for the harness itself
    pass
else:
    register_random(_SEEDS)


def fresh_seed() -> int:
    """A new seed for a run that was not given one (reported, so the run can be replayed)."""
    return _SEEDS.randrange(2**32)
